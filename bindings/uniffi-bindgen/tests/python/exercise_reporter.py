"""Runs the generated Python bindings of monitor-sdk: begin/progress/stage/complete,
health, list_uploads, typed errors, an async flush, foreign TokenProvider and logger, and a
logger that throws mid-call costing the call nothing (no crash, no lost report).

Usage: python3 exercise_reporter.py <bindings dir> <scratch dir>
"""
import asyncio
import os
import sys

sys.path.insert(0, sys.argv[1])
import monitor_sdk as sdk  # noqa: E402


class Tokens(sdk.TokenProvider):
    def access_token(self):
        return "a-token"

    def refresh_access_token(self):
        return None


class Logs(sdk.ReporterLogger):
    def __init__(self):
        self.lines = []

    def log(self, level, message):
        self.lines.append((level, message))
        if "local_id=boom" in message:
            raise RuntimeError("the app's logger crashed")


def expect(error_type, call):
    try:
        call()
    except error_type as error:
        return error
    raise AssertionError(f"expected {error_type}")


config = sdk.ReporterConfig(
    supabase_url="http://127.0.0.1:9",
    anon_key="anon",
    database_path=os.path.join(sys.argv[2], "outbox.sqlite"),
    max_pending_events=1000,
)
logs = Logs()
reporter = sdk.UploadReporter(config, Tokens(), logs)
reporter.set_online(False)

upload = reporter.begin_upload(
    "import_1732438800000_0", "Vacances", "IMG_0001.MOV", 1000,
    sdk.UploadSource.IMPORTED, '{"duration": 12}')
reporter.report_progress(upload, 500, 1000)
reporter.report_stage(upload, sdk.UploadStage.CREATING_RECORD)
reporter.complete(upload, None)

health = reporter.health()
assert health.pending_events >= 3, health
assert health.online is False, health
[item] = reporter.list_uploads()
assert item.upload_id == upload
assert item.status == sdk.UploadStatus.COMPLETED and item.progress == 100, item
assert item.stage == sdk.UploadStage.CREATING_RECORD, item

error = expect(sdk.ReporterError.Rejected, lambda: reporter.report_progress(upload, 2000, 1000))
assert error.rule == sdk.RuleViolation.OUT_OF_RANGE, error
error = expect(sdk.ReporterError.Rejected, lambda: reporter.complete(upload, None))
assert error.rule == sdk.RuleViolation.TERMINAL_STATE, error
expect(sdk.ReporterError.InvalidArgument, lambda: reporter.report_progress("not-an-id", 1, 2))
expect(sdk.ReporterError.Offline, lambda: asyncio.run(reporter.flush(100)))

# The foreign logger raising mid-call (uniffi turns it into a Rust panic) neither crashes the
# process nor fails the call: the upload is recorded and the reporter keeps working.
boom = reporter.begin_upload("boom", None, "b.mov", None, None, None)
assert any("local_id=boom" in message for _, message in logs.lines), logs.lines
second = reporter.begin_upload("import_1732438800000_1", None, "IMG_0002.MOV", None, None, None)
reporter.fail(second, "network", "connection reset", 0)
assert {item.upload_id for item in reporter.list_uploads()} == {upload, boom, second}

assert any("begin_upload" in message for _, message in logs.lines), logs.lines
reporter.shutdown()
expect(sdk.ReporterError.ShutDown, lambda: reporter.retry(second))
print("python bindings: ok")
