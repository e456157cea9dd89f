//! The thin slice through the dev stack, over real HTTP: a trivial RPC and an RLS-protected
//! table, called with a user token, the anon key, a forged token, an expired token and a wrong
//! function name, each answered as PostgREST answers; users see only their own rows.

mod common;

use common::{rpc, stack, unique_email};
use serde_json::json;
use upload_monitor::devstack::{jwt, Claims, DevStack, DevStackOptions, NewUser};

#[tokio::test]
async fn a_user_token_calls_the_version_function() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("version")))
        .await
        .unwrap();
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body, json!("1"));
}

#[tokio::test]
async fn the_anon_key_alone_is_refused_with_401() {
    let stack = stack();
    // No Authorization header: the apikey is the token, as on Supabase.
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 401, "{:?}", response.body);
    assert_eq!(response.body["code"], "42501");
    assert_eq!(
        response.body["message"],
        "permission denied for function monitor_api_version"
    );
    // PostgREST asks an anonymous caller the database refused for a token.
    assert_eq!(response.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused_with_pgrst301() {
    let stack = stack();
    let forged = jwt::encode(
        &Claims::authenticated(uuid::Uuid::new_v4(), "mallory@example.test").with_admin(true),
        "not-the-secret-but-also-at-least-32-characters",
    );
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some(&forged),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 401, "{:?}", response.body);
    assert_eq!(response.body["code"], "PGRST301");
    for key in ["message", "details", "hint"] {
        assert!(response.body.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn a_malformed_token_is_refused_with_pgrst301() {
    let stack = stack();
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some("not-a-jwt"),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body["code"], "PGRST301");
}

#[tokio::test]
async fn an_expired_token_is_refused_with_pgrst303_and_www_authenticate() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("expired")))
        .await
        .unwrap();
    let expired = stack.mint_token(&user.claims().expired());
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some(&expired),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 401, "{:?}", response.body);
    assert_eq!(response.body["code"], "PGRST303");
    assert_eq!(response.body["message"], "JWT expired");
    assert_eq!(
        response.headers["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"JWT expired\""
    );
}

#[tokio::test]
async fn a_wrong_function_name_is_404_pgrst202() {
    let stack = stack();
    let response = rpc(
        stack.api_url(),
        "monitor_api_versoin",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 404, "{:?}", response.body);
    assert_eq!(response.body["code"], "PGRST202");
    assert!(response.body["message"]
        .as_str()
        .unwrap()
        .contains("public.monitor_api_versoin"));
}

#[tokio::test]
async fn a_user_sees_only_their_own_profile_and_an_admin_sees_all() {
    let stack = stack();
    let db = stack.connect().await.unwrap();
    // A test-only RPC over the RLS-protected table, created here (not in migrations): it
    // runs as the caller (security invoker), so only RLS decides what it returns.
    db.batch_execute(
        "create or replace function public.test_visible_profiles() returns setof public.profiles
           language sql stable security invoker
         as $$ select * from public.profiles order by email $$;
         revoke all on function public.test_visible_profiles() from public;
         grant execute on function public.test_visible_profiles() to authenticated;",
    )
    .await
    .unwrap();
    let a = stack
        .create_user(
            &NewUser::new(unique_email("a"))
                .named("Ada", "A")
                .language("fr"),
        )
        .await
        .unwrap();
    let b = stack
        .create_user(&NewUser::new(unique_email("b")))
        .await
        .unwrap();
    let admin = stack
        .create_user(&NewUser::new(unique_email("admin")).admin())
        .await
        .unwrap();

    let visible = |token: String| async move {
        let response = rpc(
            stack.api_url(),
            "test_visible_profiles",
            stack.anon_key(),
            Some(&token),
            &json!({}),
        )
        .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        response
            .body
            .as_array()
            .expect("SETOF comes back as an array")
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        visible(a.access_token.clone()).await,
        vec![a.id.to_string()]
    );
    assert_eq!(
        visible(b.access_token.clone()).await,
        vec![b.id.to_string()]
    );
    let all = visible(admin.access_token.clone()).await;
    for id in [a.id, b.id, admin.id] {
        assert!(all.contains(&id.to_string()), "admin misses {id}");
    }

    let profile = rpc(
        stack.api_url(),
        "test_visible_profiles",
        stack.anon_key(),
        Some(&a.access_token),
        &json!({}),
    )
    .await
    .body;
    assert_eq!(profile[0]["first_name"], "Ada");
    assert_eq!(profile[0]["language"], "fr");
    assert_eq!(profile[0]["email"], a.email);
}

#[tokio::test]
async fn migrations_applied_twice_record_nothing_new() {
    let stack = DevStack::start_with(DevStackOptions {
        api_port: 0,
        ..DevStackOptions::default()
    })
    .await
    .unwrap();
    let db = stack.connect().await.unwrap();
    let before: Vec<(String, String, Vec<String>)> = db
        .query(
            "select version, name, statements from supabase_migrations.schema_migrations order by version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let baseline = before
        .iter()
        .find(|(version, _, _)| version == "20261124090000")
        .expect("the baseline migration is recorded");
    assert_eq!(baseline.1, "baseline_app_tables");
    assert!(baseline.2.iter().any(|s| s.contains("monitor_api_version")));

    let report = stack.migrate().await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.skipped.len(), before.len());
    assert!(!report.local.is_empty());
    let after: i64 = db
        .query_one(
            "select count(*) from supabase_migrations.schema_migrations",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(after as usize, before.len());
}

#[tokio::test]
async fn two_stacks_run_side_by_side_without_sharing_data() {
    let options = DevStackOptions {
        api_port: 0,
        ..DevStackOptions::default()
    };
    let (one, two) = tokio::join!(
        DevStack::start_with(options.clone()),
        DevStack::start_with(options)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_ne!(one.api_url(), two.api_url());
    assert_ne!(one.db_url(), two.db_url());
    let user = one
        .create_user(&NewUser::new(unique_email("side")))
        .await
        .unwrap();
    // The same token is valid on both (same demo secret) but the user exists only in one.
    async fn count(stack: &DevStack, id: uuid::Uuid) -> i64 {
        let db = stack.connect().await.unwrap();
        db.query_one("select count(*) from auth.users where id = $1", &[&id])
            .await
            .unwrap()
            .get(0)
    }
    assert_eq!(count(&one, user.id).await, 1);
    assert_eq!(count(&two, user.id).await, 0);
    for stack in [&one, &two] {
        let response = rpc(
            stack.api_url(),
            "monitor_api_version",
            stack.anon_key(),
            Some(&user.access_token),
            &json!({}),
        )
        .await;
        assert_eq!(response.status, 200);
    }
}

#[tokio::test]
async fn dropping_a_stack_stops_its_server_and_removes_its_files() {
    let stack = DevStack::start_with(DevStackOptions {
        api_port: 0,
        ..DevStackOptions::default()
    })
    .await
    .unwrap();
    let dir = stack.socket_dir().to_path_buf();
    let db_port = stack.db_port();
    let api_port = stack.api_port();
    assert!(dir.is_dir());
    drop(stack);
    assert!(!dir.exists(), "{} still exists", dir.display());
    for port in [db_port, api_port] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers"
        );
    }
}

#[tokio::test]
async fn a_target_over_the_stack_creates_users_whose_tokens_work() {
    let target = upload_monitor::devstack::SupabaseTarget::from_shared(stack());
    assert_eq!(target.api_url(), stack().api_url());
    let user = target
        .create_user(&NewUser::new(unique_email("target")))
        .await
        .unwrap();
    let response = rpc(
        target.api_url(),
        "monitor_api_version",
        target.anon_key(),
        Some(&user.access_token),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 200);
    let db = target.connect().await.unwrap();
    let email: String = db
        .query_one(
            "select email from public.profiles where id = $1",
            &[&user.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, user.email);
}

#[tokio::test]
async fn a_failing_migration_names_its_file_and_line_and_keeps_nothing_of_it() {
    let stack = stack();
    // A migrations directory of its own (no local/ shim: the stack has it): one good file,
    // then one whose third line fails after creating a table.
    let dir = tempfile::tempdir().unwrap();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(
        dir.path().join("20200101000000_good.sql"),
        format!("create table public.mig_good_{suffix} (id int);"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("20200101000001_broken.sql"),
        format!(
            "create table public.mig_half_{suffix} (id int);\n\nselect no_such_column from public.mig_good_{suffix};\n"
        ),
    )
    .unwrap();
    let mut db = stack.connect().await.unwrap();
    let err = upload_monitor::devstack::Migrator::new(dir.path())
        .apply(&mut db)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("20200101000001_broken.sql"), "{message}");
    assert!(message.contains("42703"), "{message}");
    assert!(message.contains("line 3"), "{message}");
    let exists = |table: String| {
        let db = &db;
        async move {
            db.query_one("select to_regclass($1) is not null", &[&table])
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    assert!(exists(format!("public.mig_good_{suffix}")).await);
    assert!(!exists(format!("public.mig_half_{suffix}")).await);
    let recorded: Vec<String> = db
        .query(
            "select version from supabase_migrations.schema_migrations where version like '2020%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, vec!["20200101000000".to_string()]);
}
