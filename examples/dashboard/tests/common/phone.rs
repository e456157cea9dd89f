//! Simulated phone uploads for the dashboard's tests: each event goes through the real
//! ingest (`report_upload_events` over HTTP, with the user's token), as the SDK sends it.

use chrono::Utc;
use serde_json::{json, Value};
use upload_monitor::devstack::TestUser;
use uuid::Uuid;

use super::rpc;

/// One simulated phone upload, reported event by event through `report_upload_events`.
pub struct Phone {
    user: TestUser,
    /// The upload's id.
    pub upload: Uuid,
    seq: u32,
    size: i64,
}

impl Phone {
    /// Begins an upload of `size` bytes titled `title`.
    pub async fn begin(user: &TestUser, title: &str, size: i64) -> Phone {
        let mut phone = Phone {
            user: user.clone(),
            upload: Uuid::now_v7(),
            seq: 0,
            size,
        };
        let local = format!("import_{}", phone.upload);
        phone
            .send(
                json!({"kind": "begin", "local_id": local, "filename": format!("{local}.mov"),
                         "video_title": title, "file_size": size, "source": "recorded"}),
            )
            .await;
        phone
    }

    pub async fn send(&mut self, mut event: Value) {
        self.seq += 1;
        event["id"] = json!(Uuid::now_v7());
        event["upload_id"] = json!(self.upload);
        event["seq"] = json!(self.seq);
        event["at"] = json!(Utc::now());
        let (status, body) = rpc(
            &self.user,
            "report_upload_events",
            &json!({ "events": [event] }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Reports `percent` at 2 MB/s.
    pub async fn progress(&mut self, percent: i64) {
        self.progress_at(percent, 2.0).await;
    }

    /// Reports `percent` at `mb_per_s`.
    pub async fn progress_at(&mut self, percent: i64, mb_per_s: f64) {
        let bytes = self.size * percent / 100;
        self.send(
            json!({"kind": "progress", "bytes_sent": bytes, "progress": percent,
                         "upload_speed": mb_per_s}),
        )
        .await;
    }

    /// Reports a failure with `code` and `message` after `retries` retries.
    pub async fn fail_with(&mut self, code: &str, message: &str, retries: u32) {
        self.send(
            json!({"kind": "fail", "error_code": code, "error_message": message,
                         "retry_count": retries}),
        )
        .await;
    }

    /// Reports a network failure after `retries` retries.
    pub async fn fail(&mut self, retries: u32) {
        self.send(json!({"kind": "fail", "error_code": "network_error",
                         "error_message": "Network request failed", "retry_count": retries}))
            .await;
    }

    pub async fn complete(&mut self) {
        self.send(json!({"kind": "complete"})).await;
    }
}
