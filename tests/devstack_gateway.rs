//! The gateway's PostgREST contract beyond the slice: argument binding and result shapes,
//! error status mapping, request settings, GET calls, large bodies and schema changes.

mod common;

use common::{rpc, rpc_get, stack, unique_email};
use serde_json::json;
use upload_monitor::devstack::{DevStack, NewUser};

/// Creates this test's functions under names unique to it (tests share one stack).
async fn create(stack: &DevStack, sql: &str) {
    stack
        .connect()
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
}

#[tokio::test]
async fn named_arguments_of_many_types_are_bound_not_spliced() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_echo(n int, t text, j jsonb, tags text[],
            id uuid, at timestamptz, flag boolean default false)
         returns jsonb language sql immutable as $$
           select jsonb_build_object('n', n + 1, 't', t, 'j', j, 'tags', tags, 'id', id,
                                     'at', at, 'flag', flag)
         $$;",
    )
    .await;
    let hostile = "'); drop table public.profiles; --";
    let response = rpc(
        stack.api_url(),
        "gw_echo",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({
            "n": 41, "t": hostile, "j": {"a": [1, {"b": null}]}, "tags": ["x", "y"],
            "id": "0190d5a8-0000-7000-8000-000000000001", "at": "2026-11-24T09:00:00Z"
        }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["n"], 42);
    assert_eq!(response.body["t"], hostile);
    assert_eq!(response.body["j"], json!({"a": [1, {"b": null}]}));
    assert_eq!(response.body["tags"], json!(["x", "y"]));
    assert_eq!(response.body["id"], "0190d5a8-0000-7000-8000-000000000001");
    assert_eq!(response.body["flag"], false);
}

#[tokio::test]
async fn results_come_back_shaped_as_postgrest_shapes_them() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_int() returns int language sql as $$ select 7 $$;
         create or replace function public.gw_null() returns text language sql as $$ select null::text $$;
         create or replace function public.gw_setof_int() returns setof int language sql as $$ select generate_series(1, 3) $$;
         create or replace function public.gw_empty_set() returns setof int language sql as $$ select 1 where false $$;
         create or replace function public.gw_table() returns table (k text, v int) language sql as $$ values ('a', 1), ('b', 2) $$;
         create or replace function public.gw_void() returns void language sql as $$ select $$;",
    )
    .await;
    let call = |name: &'static str| async move {
        rpc(
            stack.api_url(),
            name,
            stack.anon_key(),
            Some(stack.service_role_key()),
            &json!({}),
        )
        .await
    };
    assert_eq!(call("gw_int").await.body, json!(7));
    assert_eq!(call("gw_null").await.body, json!(null));
    assert_eq!(call("gw_setof_int").await.body, json!([1, 2, 3]));
    assert_eq!(call("gw_empty_set").await.body, json!([]));
    assert_eq!(
        call("gw_table").await.body,
        json!([{"k": "a", "v": 1}, {"k": "b", "v": 2}])
    );
    let void = call("gw_void").await;
    assert_eq!(void.status, 204);
    assert_eq!(void.body, json!(null));
}

#[tokio::test]
async fn database_errors_keep_postgrest_codes_and_statuses() {
    let stack = stack();
    create(
        stack,
        "create table if not exists public.gw_unique (k text primary key);
         grant select, insert on public.gw_unique to service_role;
         create or replace function public.gw_raise(kind text) returns void language plpgsql as $$
         begin
           if kind = 'raise' then
             raise exception 'I refuse!' using detail = 'Pretty simple', hint = 'There is nothing you can do.';
           elsif kind = 'payment' then
             raise sqlstate 'PT402' using message = 'Payment Required';
           elsif kind = 'unique' then
             insert into public.gw_unique values ('same'), ('same');
           elsif kind = 'cast' then
             perform 'x'::int;
           end if;
         end $$;",
    )
    .await;
    let cases = [
        ("raise", 400, "P0001"),
        ("payment", 402, "PT402"),
        ("unique", 409, "23505"),
        ("cast", 400, "22P02"),
    ];
    for (kind, status, code) in cases {
        let response = rpc(
            stack.api_url(),
            "gw_raise",
            stack.anon_key(),
            Some(stack.service_role_key()),
            &json!({"kind": kind}),
        )
        .await;
        assert_eq!(response.status, status, "{kind}: {:?}", response.body);
        assert_eq!(response.body["code"], code, "{kind}");
    }
    let raised = rpc(
        stack.api_url(),
        "gw_raise",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({"kind": "raise"}),
    )
    .await
    .body;
    assert_eq!(
        raised,
        json!({"code": "P0001", "message": "I refuse!", "details": "Pretty simple",
               "hint": "There is nothing you can do."})
    );
}

#[tokio::test]
async fn a_signed_in_caller_without_the_grant_gets_403() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_service_only() returns int language sql as $$ select 1 $$;
         revoke all on function public.gw_service_only() from public;
         grant execute on function public.gw_service_only() to service_role;",
    )
    .await;
    let user = stack
        .create_user(&NewUser::new(unique_email("grant")))
        .await
        .unwrap();
    let response = rpc(
        stack.api_url(),
        "gw_service_only",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.body["code"], "42501");
}

#[tokio::test]
async fn the_function_sees_the_callers_claims_and_request() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_whoami() returns jsonb language sql stable as $$
           select jsonb_build_object(
             'uid', auth.uid(), 'role', auth.role(), 'email', auth.email(),
             'current_user', current_user,
             'admin', (auth.jwt() -> 'app_metadata' ->> 'role'),
             'method', current_setting('request.method', true),
             'path', current_setting('request.path', true),
             'agent', current_setting('request.headers', true)::jsonb ->> 'x-test-header')
         $$;
         grant execute on function public.gw_whoami() to authenticated;",
    )
    .await;
    let admin = stack
        .create_user(&NewUser::new(unique_email("whoami")).admin())
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/rest/v1/rpc/gw_whoami", stack.api_url()))
        .header("apikey", stack.anon_key())
        .header("x-test-header", "hello")
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "uid": admin.id, "role": "authenticated", "email": admin.email,
            "current_user": "authenticated", "admin": "admin",
            "method": "POST", "path": "/rpc/gw_whoami", "agent": "hello"
        })
    );
}

#[tokio::test]
async fn get_calls_take_query_arguments_and_run_read_only() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_add(a int, b int) returns int language sql immutable as $$ select a + b $$;
         create table if not exists public.gw_writes (n int);
         grant insert on public.gw_writes to service_role;
         create or replace function public.gw_write() returns void language sql volatile as $$ insert into public.gw_writes values (1) $$;",
    )
    .await;
    let sum = rpc_get(
        stack.api_url(),
        "gw_add",
        stack.anon_key(),
        stack.service_role_key(),
        &[("a", "2"), ("b", "40")],
    )
    .await;
    assert_eq!(sum.status, 200, "{:?}", sum.body);
    assert_eq!(sum.body, json!(42));
    let write = rpc_get(
        stack.api_url(),
        "gw_write",
        stack.anon_key(),
        stack.service_role_key(),
        &[],
    )
    .await;
    assert_eq!(write.status, 405, "{:?}", write.body);
    assert_eq!(write.body["code"], "25006");
}

#[tokio::test]
async fn a_function_created_after_a_404_is_found_on_the_next_call() {
    let stack = stack();
    let name = format!("gw_late_{}", uuid::Uuid::new_v4().simple());
    let args = json!({"x": 1});
    let call = || {
        rpc(
            stack.api_url(),
            &name,
            stack.anon_key(),
            Some(stack.service_role_key()),
            &args,
        )
    };
    assert_eq!(call().await.status, 404);
    create(
        stack,
        &format!(
            "create function public.{name}(x int) returns int language sql as $$ select x * 2 $$;"
        ),
    )
    .await;
    let found = call().await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(found.body, json!(2));
    // A changed signature is picked up too.
    create(
        stack,
        &format!(
            "drop function public.{name}(int);
             create function public.{name}(x int, y int default 10) returns int language sql as $$ select x + y $$;"
        ),
    )
    .await;
    let changed = call().await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body, json!(11));
    // And a dropped one is gone.
    create(stack, &format!("drop function public.{name}(int, int);")).await;
    let dropped = call().await;
    assert_eq!(dropped.status, 404, "{:?}", dropped.body);
    assert_eq!(dropped.body["code"], "PGRST202");
}

#[tokio::test]
async fn a_browser_preflight_is_answered_for_any_origin() {
    let stack = stack();
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/rest/v1/rpc/monitor_api_version", stack.api_url()),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("apikey") && allowed.contains("authorization"));
}

#[tokio::test]
async fn unknown_arguments_are_404_and_bad_bodies_are_400() {
    let stack = stack();
    let wrong_args = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({"nope": 1}),
    )
    .await;
    assert_eq!(wrong_args.status, 404);
    assert_eq!(wrong_args.body["code"], "PGRST202");
    let not_json = reqwest::Client::new()
        .post(format!(
            "{}/rest/v1/rpc/monitor_api_version",
            stack.api_url()
        ))
        .header("apikey", stack.service_role_key())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["code"], "PGRST102");
}

#[tokio::test]
async fn requests_without_any_key_or_with_a_foreign_role_are_refused() {
    let stack = stack();
    let no_key = reqwest::Client::new()
        .post(format!(
            "{}/rest/v1/rpc/monitor_api_version",
            stack.api_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let mut claims = upload_monitor::devstack::Claims::for_role("postgres");
    claims.sub = Some(uuid::Uuid::new_v4());
    let superuser = stack.mint_token(&claims);
    let response = rpc(
        stack.api_url(),
        "monitor_api_version",
        stack.anon_key(),
        Some(&superuser),
        &json!({}),
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.body["code"], "42501");
}

#[tokio::test]
async fn a_ten_megabyte_argument_goes_through() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_length(message text) returns int language sql immutable as $$ select length(message) $$;",
    )
    .await;
    // Quotes and newlines grow in JSON escaping; the limit must allow for that.
    let message = "é\"\n".repeat(10 * 1024 * 1024 / 4);
    let response = rpc(
        stack.api_url(),
        "gw_length",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({"message": message}),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body, json!(message.chars().count()));
}

#[tokio::test]
async fn a_single_unnamed_jsonb_argument_receives_the_whole_body() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_whole(jsonb) returns jsonb language sql immutable as $$ select $1 $$;",
    )
    .await;
    let body = json!({"anything": [1, 2], "goes": true});
    let response = rpc(
        stack.api_url(),
        "gw_whole",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body, body);
}

#[tokio::test]
async fn functions_choose_status_and_headers_as_postgrest_lets_them() {
    let stack = stack();
    create(
        stack,
        r#"create or replace function public.gw_slow_down() returns void language plpgsql as $$
           begin
             raise sqlstate 'PGRST' using
               message = '{"code":"RATE","message":"Too many reports","hint":"Wait"}',
               detail = '{"status":429,"headers":{"Retry-After":"7"}}';
           end $$;
           create or replace function public.gw_created() returns int language plpgsql as $$
           begin
             perform set_config('response.status', '201', true);
             perform set_config('response.headers', '[{"X-Pace-Ms": "1500"}]', true);
             return 1;
           end $$;"#,
    )
    .await;
    let slow = rpc(
        stack.api_url(),
        "gw_slow_down",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({}),
    )
    .await;
    assert_eq!(slow.status, 429, "{:?}", slow.body);
    assert_eq!(slow.headers["retry-after"], "7");
    assert_eq!(
        slow.body,
        json!({"code": "RATE", "message": "Too many reports", "details": null, "hint": "Wait"})
    );
    let created = rpc(
        stack.api_url(),
        "gw_created",
        stack.anon_key(),
        Some(stack.service_role_key()),
        &json!({}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.headers["x-pace-ms"], "1500");
    assert_eq!(created.body, json!(1));
    // The settings end with the transaction: later calls on the same pooled connections
    // are plain 200s again.
    for _ in 0..20 {
        let plain = rpc(
            stack.api_url(),
            "monitor_api_version",
            stack.anon_key(),
            Some(stack.service_role_key()),
            &json!({}),
        )
        .await;
        assert_eq!(plain.status, 200);
        assert!(plain.headers.get("x-pace-ms").is_none());
    }
}
