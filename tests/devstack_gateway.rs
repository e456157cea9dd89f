//! The gateway's PostgREST contract beyond the slice: argument binding and result shapes,
//! error status mapping, request settings, GET calls, large bodies and schema changes.

mod common;

use common::{rpc, rpc_get, stack, unique_email};
use serde_json::json;
use upload_monitor::devstack::{DevStack, DevStackOptions, NewUser};

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
    // A role outside the three API roles: `Claims` cannot name one, so the claims are JSON.
    let superuser = upload_monitor::devstack::jwt::encode(
        &json!({"role": "postgres", "sub": uuid::Uuid::new_v4(), "exp": upload_monitor::devstack::jwt::now() + 3600}),
        stack.jwt_secret(),
    );
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

#[tokio::test]
async fn a_bearer_token_without_a_project_apikey_is_refused_as_supabase_refuses_it() {
    let stack = stack();
    let url = format!("{}/rest/v1/rpc/monitor_api_version", stack.api_url());
    let http = reqwest::Client::new();
    let answer = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    // A valid token is not enough: Supabase's gateway wants the project's key beside it.
    let (status, body) = answer(http.post(&url).bearer_auth(stack.service_role_key())).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"message": "No API key found in request",
               "hint": "No `apikey` request header or url param was found."})
    );
    let user = stack
        .create_user(&NewUser::new(unique_email("apikey")))
        .await
        .unwrap();
    // Neither a made-up key nor a user's (valid) access token is one of the project's keys.
    for key in ["not-a-key", user.access_token.as_str()] {
        let (status, body) = answer(
            http.post(&url)
                .header("apikey", key)
                .bearer_auth(stack.service_role_key()),
        )
        .await;
        assert_eq!(status, 401, "{key}");
        assert_eq!(
            body,
            json!({"message": "Invalid API key",
                   "hint": "Double check your Supabase `anon` or `service_role` API key."})
        );
    }
    // The key may also come as the `apikey` url parameter, as Kong's key-auth allows.
    let (status, body) = answer(
        http.post(&url)
            .query(&[("apikey", stack.anon_key())])
            .bearer_auth(&user.access_token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!("1"));
}

#[tokio::test]
async fn api_roles_run_under_supabases_statement_timeouts() {
    let stack = stack();
    create(
        stack,
        "create or replace function public.gw_statement_timeout() returns text language sql stable as $$
           select current_setting('statement_timeout')
         $$;
         grant execute on function public.gw_statement_timeout() to anon, authenticated, service_role;
         create or replace function public.gw_sleep(seconds float8) returns void language sql as $$
           select pg_sleep(seconds)
         $$;
         grant execute on function public.gw_sleep(float8) to anon;",
    )
    .await;
    let user = stack
        .create_user(&NewUser::new(unique_email("timeout")))
        .await
        .unwrap();
    let setting = |bearer: Option<String>| async move {
        let response = rpc(
            stack.api_url(),
            "gw_statement_timeout",
            stack.anon_key(),
            bearer.as_deref(),
            &json!({}),
        )
        .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        response.body
    };
    assert_eq!(setting(None).await, json!("3s"), "anon");
    assert_eq!(setting(Some(user.access_token.clone())).await, json!("8s"));
    // service_role has none of its own: the authenticator's 8 s apply.
    assert_eq!(
        setting(Some(stack.service_role_key().to_string())).await,
        json!("8s")
    );
    let started = std::time::Instant::now();
    let slow = rpc(
        stack.api_url(),
        "gw_sleep",
        stack.anon_key(),
        None,
        &json!({"seconds": 3.5}),
    )
    .await;
    assert_eq!(slow.status, 500, "{:?}", slow.body);
    assert_eq!(slow.body["code"], "57014");
    assert_eq!(
        slow.body["message"],
        "canceling statement due to statement timeout"
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(3400));
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_is_dropped() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = DevStack::start_with(DevStackOptions {
        api_port: 0,
        body_stall_timeout: Duration::from_secs(1),
        ..DevStackOptions::default()
    })
    .await
    .unwrap();
    let head = |length: usize| {
        format!(
            "POST /rest/v1/rpc/monitor_api_version HTTP/1.1\r\nhost: localhost\r\n\
             apikey: {key}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\n\
             content-length: {length}\r\n\r\n",
            key = stack.service_role_key()
        )
    };
    // Half a body, then nothing: the gateway hangs up after the stall timeout.
    let started = Instant::now();
    let answer = common::raw_http(
        stack.api_url(),
        format!("{}{{\"a\":", head(100)).as_bytes(),
        Duration::from_secs(10),
    )
    .await
    .expect("the gateway drops a stalled client instead of waiting for it");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A slow body that keeps coming is read to the end, however long it takes in total.
    let addr = stack.api_url().trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(head(2).as_bytes()).await.unwrap();
    for part in [b"{", b"}"] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        socket.write_all(part).await.unwrap();
    }
    let mut reply = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..read]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn a_pgrst_raise_chooses_status_headers_and_body_as_postgrest_parses_it() {
    let stack = stack();
    create(
        stack,
        r#"create or replace function public.gw_busy(kind text) returns void language plpgsql as $$
           begin
             if kind = 'busy' then
               raise sqlstate 'PGRST' using
                 message = '{"code":"UM429","message":"Another batch of this user is being applied"}',
                 detail = '{"status":429,"headers":{"Retry-After":"1"}}';
             elsif kind = 'no_headers' then
               raise sqlstate 'PGRST' using message = '{"code":"X","message":"m"}', detail = '{"status":429}';
             elsif kind = 'no_detail' then
               raise sqlstate 'PGRST' using message = '{"code":"X","message":"m"}';
             elsif kind = 'no_code' then
               raise sqlstate 'PGRST' using message = '{"message":"m"}', detail = '{"status":429,"headers":{}}';
             elsif kind = 'status_text' then
               raise sqlstate 'PGRST' using message = '{"code":"X","message":"m"}',
                 detail = '{"status":420,"status_text":"Enhance Your Calm","headers":{}}';
             end if;
           end $$;"#,
    )
    .await;
    let call = |kind: &'static str| async move {
        rpc(
            stack.api_url(),
            "gw_busy",
            stack.anon_key(),
            Some(stack.service_role_key()),
            &json!({ "kind": kind }),
        )
        .await
    };
    // The form report_upload_events raises when another batch of the user holds its lock.
    let busy = call("busy").await;
    assert_eq!(busy.status, 429, "{:?}", busy.body);
    assert_eq!(busy.headers["retry-after"], "1");
    assert_eq!(busy.headers["proxy-status"], "PostgREST; error=UM429");
    assert_eq!(
        busy.body,
        json!({"code": "UM429", "message": "Another batch of this user is being applied",
               "details": null, "hint": null})
    );
    let detail_hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let cases = [
        (
            "no_headers",
            r#"Invalid JSON value for DETAIL: '{"status":429}'"#,
            detail_hint,
        ),
        (
            "no_detail",
            "DETAIL is missing in the RAISE statement",
            detail_hint,
        ),
        (
            "no_code",
            r#"Invalid JSON value for MESSAGE: '{"message":"m"}'"#,
            "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
        ),
    ];
    for (kind, details, hint) in cases {
        let response = call(kind).await;
        assert_eq!(response.status, 500, "{kind}");
        assert_eq!(
            response.body,
            json!({"code": "PGRST121",
                   "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
                   "details": details, "hint": hint}),
            "{kind}"
        );
    }
    // status_text becomes the reason phrase, which only the raw status line shows.
    let body = r#"{"kind":"status_text"}"#;
    let request = format!(
        "POST /rest/v1/rpc/gw_busy HTTP/1.1\r\nhost: localhost\r\napikey: {key}\r\n\
         authorization: Bearer {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        key = stack.service_role_key()
    );
    let answer = common::raw_http(
        stack.api_url(),
        request.as_bytes(),
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("an answer");
    assert!(
        answer.starts_with("HTTP/1.1 420 Enhance Your Calm\r\n"),
        "{answer}"
    );
}
