//! The dev stack's `/storage/v1` over real HTTP, held to Supabase Storage's answers: uploads
//! (binary, multipart, upsert), downloads with a JWT and with signed URLs, the `videos`
//! bucket's owner-folder RLS with admins reading all, size limits and error bodies.

mod common;

use common::{stack, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upload_monitor::devstack::{jwt, NewUser, TestUser};

/// A Storage answer; `bytes` is the raw body, `body` its JSON when it is JSON.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the dev stack answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body").to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        bytes,
        body,
    }
}

fn url(path: &str) -> String {
    format!("{}/storage/v1{path}", stack().api_url())
}

/// `method /object/{key}` with a bearer token and a binary body of `content_type`.
async fn put_bytes(
    method: Method,
    key: &str,
    token: &str,
    content_type: &str,
    bytes: Vec<u8>,
    upsert: bool,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, url(&format!("/object/{key}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes);
    if upsert {
        request = request.header("x-upsert", "true");
    }
    send(request).await
}

async fn download(path: &str, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

/// A raw HTTP/1.1 upload in `chunks` chunks of `size` bytes (`Transfer-Encoding: chunked`,
/// no `Content-Length`), as a phone streaming a file of unknown length sends it. Answers the
/// status and the JSON body.
async fn chunked_upload(path: &str, token: &str, chunks: usize, size: usize) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = format!("127.0.0.1:{}", stack().api_port());
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /storage/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        // The server may answer and close before the last chunk: later writes may fail.
        let chunk = pattern(size);
        if socket
            .write_all(format!("{size:x}\r\n").as_bytes())
            .await
            .is_err()
            || socket.write_all(&chunk).await.is_err()
            || socket.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let _ = socket.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {text}"));
    let body_text = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked answer wraps its JSON in a size line: take the object itself.
    let json_text = body_text
        .find('{')
        .and_then(|start| Some(&body_text[start..=body_text.rfind('}')?]))
        .unwrap_or("null");
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers: reqwest::header::HeaderMap::new(),
        bytes: raw,
        body: serde_json::from_str(json_text).unwrap_or(Value::Null),
    }
}

async fn user(prefix: &str) -> TestUser {
    stack()
        .create_user(&NewUser::new(unique_email(prefix)))
        .await
        .unwrap()
}

/// Bytes that are not all alike, so a shifted or truncated copy shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// The storage server's error body.
fn storage_error(status_code: &str, code: &str) -> impl Fn(&Answer) {
    let (status_code, code) = (status_code.to_string(), code.to_string());
    move |answer: &Answer| {
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.body["statusCode"], status_code, "{}", answer.body);
        assert_eq!(answer.body["code"], code, "{}", answer.body);
        assert!(answer.body["message"].is_string(), "{}", answer.body);
        assert!(answer.body["error"].is_string(), "{}", answer.body);
    }
}

#[tokio::test]
async fn a_user_uploads_a_video_into_their_folder_and_downloads_it_back() {
    let owner = user("uploader").await;
    let key = format!("videos/{}/clip 1.mp4", owner.id);
    let bytes = pattern(300_000);
    let uploaded = put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        bytes.clone(),
        false,
    )
    .await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    assert_eq!(uploaded.body["Key"], key);
    let id: uuid::Uuid = uploaded.body["Id"].as_str().unwrap().parse().unwrap();

    let row = stack()
        .connect()
        .await
        .unwrap()
        .query_one(
            "select owner, bucket_id, name, metadata from storage.objects where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<uuid::Uuid>>(0), Some(owner.id));
    assert_eq!(row.get::<_, String>(1), "videos");
    let metadata: Value = row.get(3);
    assert_eq!(metadata["size"], 300_000);
    assert_eq!(metadata["mimetype"], "video/mp4");

    for path in [
        format!("/object/{key}"),
        format!("/object/authenticated/{key}"),
    ] {
        let back = download(&path, Some(&owner.access_token)).await;
        assert_eq!(back.status, 200, "{path}");
        assert_eq!(back.bytes, bytes, "{path}");
        assert_eq!(back.headers["content-type"], "video/mp4");
        assert_eq!(back.headers["content-length"], "300000");
    }

    // A video element asks for ranges.
    let part = send(
        reqwest::Client::new()
            .get(url(&format!("/object/{key}")))
            .bearer_auth(&owner.access_token)
            .header("range", "bytes=1000-1999"),
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, bytes[1000..2000]);
    assert_eq!(part.headers["content-range"], "bytes 1000-1999/300000");
}

#[tokio::test]
async fn a_multipart_upload_stores_the_file_part_with_its_cache_control() {
    let owner = user("multipart").await;
    let key = format!("thumbnails/{}/frame.jpg", owner.id);
    let boundary = "----devstack-test-boundary";
    let jpeg = pattern(5_000);
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"\"; filename=\"frame.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&jpeg);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = send(
        reqwest::Client::new()
            .post(url(&format!("/object/{key}")))
            .bearer_auth(&owner.access_token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body),
    )
    .await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    let back = download(&format!("/object/{key}"), Some(&owner.access_token)).await;
    assert_eq!(back.status, 200);
    assert_eq!(back.bytes, jpeg);
    assert_eq!(back.headers["content-type"], "image/jpeg");
    assert_eq!(back.headers["cache-control"], "max-age=3600");
}

#[tokio::test]
async fn users_write_and_read_only_their_own_folder_and_admins_read_every_object() {
    let owner = user("owner").await;
    let other = user("other").await;
    let key = format!("videos/{}/private.mp4", owner.id);
    let stored = put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        pattern(100),
        false,
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);

    // Into someone else's folder: refused by RLS before a byte is stored.
    let intruding = put_bytes(
        Method::POST,
        &format!("videos/{}/planted.mp4", owner.id),
        &other.access_token,
        "video/mp4",
        pattern(100),
        false,
    )
    .await;
    storage_error("403", "AccessDenied")(&intruding);
    assert_eq!(
        intruding.body["message"],
        "new row violates row-level security policy"
    );
    let anon = put_bytes(
        Method::POST,
        &format!("videos/{}/anon.mp4", owner.id),
        stack().anon_key(),
        "video/mp4",
        pattern(10),
        false,
    )
    .await;
    storage_error("403", "AccessDenied")(&anon);

    // Reading another user's object: as if it did not exist.
    let peeking = download(&format!("/object/{key}"), Some(&other.access_token)).await;
    storage_error("404", "NoSuchKey")(&peeking);
    assert_eq!(peeking.body["message"], "Object not found");

    let admin = stack()
        .create_user(&NewUser::new(unique_email("storage-admin")).admin())
        .await
        .unwrap();
    let as_admin = download(&format!("/object/{key}"), Some(&admin.access_token)).await;
    assert_eq!(as_admin.status, 200);
    assert_eq!(as_admin.bytes, pattern(100));
}

#[tokio::test]
async fn an_existing_object_is_replaced_only_by_an_upsert() {
    let owner = user("upsert").await;
    let key = format!("videos/{}/retry.mp4", owner.id);
    let first = put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        b"first".to_vec(),
        false,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        b"second".to_vec(),
        false,
    )
    .await;
    storage_error("409", "ResourceAlreadyExists")(&again);
    assert_eq!(again.body["error"], "Duplicate");

    let upserted = put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        b"second".to_vec(),
        true,
    )
    .await;
    assert_eq!(upserted.status, 200, "{}", upserted.body);
    assert_eq!(upserted.body["Id"], first.body["Id"], "the same object");
    let put = put_bytes(
        Method::PUT,
        &key,
        &owner.access_token,
        "video/mp4",
        b"third".to_vec(),
        false,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let back = download(&format!("/object/{key}"), Some(&owner.access_token)).await;
    assert_eq!(back.bytes, b"third");
}

#[tokio::test]
async fn uploads_over_the_size_limit_are_refused_whether_or_not_their_length_is_declared() {
    let db = stack().connect().await.unwrap();
    db.batch_execute(
        "insert into storage.buckets (id, name, file_size_limit) \
         values ('test-small', 'test-small', 1000) on conflict (id) do nothing",
    )
    .await
    .unwrap();
    let service = stack().service_role_key();
    let declared = put_bytes(
        Method::POST,
        "test-small/declared.bin",
        service,
        "application/octet-stream",
        pattern(1001),
        false,
    )
    .await;
    storage_error("413", "EntityTooLarge")(&declared);
    assert_eq!(
        declared.body["message"],
        "The object exceeded the maximum allowed size"
    );
    assert_eq!(declared.body["error"], "Payload too large");

    // Chunked: no Content-Length, so the limit is found while streaming.
    let streamed = chunked_upload("/object/test-small/streamed.bin", service, 4, 400).await;
    storage_error("413", "EntityTooLarge")(&streamed);
    let kept: i64 = db
        .query_one(
            "select count(*) from storage.objects where bucket_id = 'test-small'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 0, "nothing of a refused upload is kept");

    let fits = put_bytes(
        Method::POST,
        "test-small/fits.bin",
        service,
        "application/octet-stream",
        pattern(1000),
        false,
    )
    .await;
    assert_eq!(fits.status, 200, "{}", fits.body);
}

#[tokio::test]
async fn a_signed_url_serves_the_object_to_anyone_until_it_expires() {
    let owner = user("signer").await;
    let key = format!("videos/{}/shared.mp4", owner.id);
    put_bytes(
        Method::POST,
        &key,
        &owner.access_token,
        "video/mp4",
        pattern(2048),
        false,
    )
    .await;
    let signed = send(
        reqwest::Client::new()
            .post(url(&format!("/object/sign/{key}")))
            .bearer_auth(&owner.access_token)
            .json(&json!({"expiresIn": 60})),
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let signed_url = signed.body["signedURL"].as_str().unwrap();
    assert!(signed_url.starts_with(&format!("/object/sign/{key}?token=")));

    let fetched = download(signed_url, None).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.bytes, pattern(2048));
    let attachment = download(&format!("{signed_url}&download=clip.mp4"), None).await;
    assert_eq!(
        attachment.headers["content-disposition"],
        "attachment; filename=\"clip.mp4\""
    );

    // The token is for this path only, and for a while only.
    let token = signed_url.split("token=").nth(1).unwrap();
    let elsewhere = download(
        &format!("/object/sign/videos/{}/other.mp4?token={token}", owner.id),
        None,
    )
    .await;
    storage_error("400", "InvalidSignature")(&elsewhere);
    let expired = jwt::encode(
        &json!({"url": key, "scope": "download", "iat": jwt::now() - 120, "exp": jwt::now() - 60}),
        stack().jwt_secret(),
    );
    let late = download(&format!("/object/sign/{key}?token={expired}"), None).await;
    storage_error("400", "InvalidJWT")(&late);

    // Nobody signs what they cannot read.
    let stranger = user("stranger").await;
    let refused = send(
        reqwest::Client::new()
            .post(url(&format!("/object/sign/{key}")))
            .bearer_auth(&stranger.access_token)
            .json(&json!({"expiresIn": 60})),
    )
    .await;
    storage_error("404", "NoSuchKey")(&refused);
}

#[tokio::test]
async fn storage_refuses_missing_tokens_unknown_buckets_and_unserved_routes() {
    let no_token = send(reqwest::Client::new().get(url("/object/videos/a/b.mp4"))).await;
    storage_error("403", "AccessDenied")(&no_token);
    let no_bucket = put_bytes(
        Method::POST,
        "nope/a.bin",
        stack().service_role_key(),
        "application/octet-stream",
        vec![1],
        false,
    )
    .await;
    storage_error("404", "NoSuchBucket")(&no_bucket);
    assert_eq!(no_bucket.body["message"], "Bucket not found");
    let buckets = send(
        reqwest::Client::new()
            .get(url("/bucket"))
            .bearer_auth(stack().service_role_key()),
    )
    .await;
    assert_eq!(buckets.status, 501);
    assert_eq!(buckets.body["code"], "NotImplemented");
}
