//! `docs/API.md` is the reference of the SQL surface, and this test keeps it true: every
//! function in schema `public` that the API roles (`anon`, `authenticated`, `service_role`)
//! may EXECUTE has a section there headed by its exact signature
//! (`` ### `name(identity arguments) returns result` ``, as PostgreSQL prints them) with the
//! roles that hold EXECUTE on the next line (`` Roles: `authenticated`, `service_role` ``), and
//! the page documents no function that does not exist. A migration that adds, renames, retypes
//! or re-grants a function fails here until the page says so.
//!
//! Against the dev stack's database, with every migration applied (extension functions such
//! as pgTAP's are left out: they are not this project's API).

mod common;

use std::collections::BTreeMap;

use common::stack;

/// The roles PostgREST switches to, in the order the page lists them.
const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// signature -> roles holding EXECUTE, as the database has them.
async fn exposed_functions() -> BTreeMap<String, Vec<String>> {
    let db = stack().connect().await.expect("a database connection");
    let rows = db
        .query(
            "select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') returns '
                    || pg_get_function_result(p.oid),
                    array(select r from unnest($1::text[]) r
                          where has_function_privilege(r, p.oid, 'execute'))
             from pg_proc p
             join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'public'
               and not exists (select 1 from pg_depend d
                               where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                                 and d.deptype = 'e')",
            &[&API_ROLES.as_slice()],
        )
        .await
        .expect("the catalog query runs");
    rows.iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, Vec<String>>(1)))
        .filter(|(_, roles)| !roles.is_empty())
        .collect()
}

/// signature -> roles, as `docs/API.md` documents them; `Err` lists malformed sections.
fn documented_functions(page: &str) -> Result<BTreeMap<String, Vec<String>>, Vec<String>> {
    let mut documented = BTreeMap::new();
    let mut problems = Vec::new();
    let mut lines = page.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let Some(signature) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue;
        };
        // The first non-empty line after the heading names the roles.
        let roles_line = loop {
            match lines.peek() {
                Some((_, l)) if l.trim().is_empty() => {
                    lines.next();
                }
                Some((_, l)) => break Some(l.to_string()),
                None => break None,
            }
        };
        let roles = roles_line
            .as_deref()
            .and_then(|l| l.strip_prefix("Roles: "))
            .map(|l| {
                l.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            });
        match roles {
            Some(roles) => {
                if documented.insert(signature.to_string(), roles).is_some() {
                    problems.push(format!("line {}: `{signature}` documented twice", n + 1));
                }
            }
            None => problems.push(format!(
                "line {}: `{signature}` is not followed by a `Roles: ...` line",
                n + 1
            )),
        }
    }
    if problems.is_empty() {
        Ok(documented)
    } else {
        Err(problems)
    }
}

#[tokio::test]
async fn docs_api_md_documents_exactly_the_functions_the_api_roles_may_call() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md");
    let page = std::fs::read_to_string(path).expect("docs/API.md exists");
    let documented = documented_functions(&page).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let exposed = exposed_functions().await;
    assert!(
        exposed.contains_key("report_upload_events(events jsonb) returns jsonb"),
        "the catalog query finds the ingest function: {exposed:#?}"
    );

    let mut problems = Vec::new();
    for (signature, roles) in &exposed {
        let want = roles
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match documented.get(signature) {
            None => problems.push(format!(
                "missing from docs/API.md (add a section):\n### `{signature}`\n\nRoles: {want}\n"
            )),
            Some(doc_roles) if doc_roles != roles => problems.push(format!(
                "`{signature}`: docs/API.md says Roles: {doc_roles:?}, the database grants \
                 EXECUTE to {roles:?} (write `Roles: {want}`)"
            )),
            Some(_) => {}
        }
    }
    for signature in documented.keys() {
        if !exposed.contains_key(signature) {
            problems.push(format!(
                "docs/API.md documents `{signature}`, which no API role may call (or which \
                 does not exist with that signature)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_heading_without_its_roles_line_is_reported() {
    let page = "### `f(a integer) returns text`\n\nSome prose.\n";
    let problems = documented_functions(page).unwrap_err();
    assert!(problems[0].contains("Roles"), "{problems:?}");
    let page = "### `f(a integer) returns text`\n\nRoles: `authenticated`, `service_role`\n";
    let documented = documented_functions(page).unwrap();
    assert_eq!(
        documented["f(a integer) returns text"],
        ["authenticated", "service_role"]
    );
}
