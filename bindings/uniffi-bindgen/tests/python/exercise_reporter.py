"""Runs the generated Python bindings of monitor-sdk: begin/progress/stage/complete,
health, list_uploads, typed errors (with `detail`, not `message`), an async flush, the foreign
SessionRefresher, a pushed access token and the SDK's buffered log lines.

Usage: python3 exercise_reporter.py <bindings dir> <scratch dir>
"""
import asyncio
import os
import sys

sys.path.insert(0, sys.argv[1])
import monitor_sdk as sdk  # noqa: E402


class Refresher(sdk.SessionRefresher):
    async def refresh_access_token(self):
        return None


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
reporter = sdk.UploadReporter(config, "a-token", Refresher())
reporter.set_online(False)
reporter.set_log_level(sdk.LogLevel.DEBUG)
reporter.set_access_token("a-newer-token")

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
assert "out_of_range" in error.detail, error.detail
error = expect(sdk.ReporterError.Rejected, lambda: reporter.complete(upload, None))
assert error.rule == sdk.RuleViolation.TERMINAL_STATE, error
expect(sdk.ReporterError.InvalidArgument, lambda: reporter.report_progress("not-an-id", 1, 2))
expect(sdk.ReporterError.Offline, lambda: asyncio.run(reporter.flush(100)))

boom = reporter.begin_upload("boom", None, "b.mov", None, None, None)
second = reporter.begin_upload("import_1732438800000_1", None, "IMG_0002.MOV", None, None, None)
reporter.fail(second, "network", "connection reset", 0)
assert {item.upload_id for item in reporter.list_uploads()} == {upload, boom, second}

# The SDK's log lines wait for the app to take them (no call into the app's thread).
lines = reporter.take_log_lines(1000)
assert any("local_id=boom" in line.message for line in lines), lines
assert all(line.at_ms > 0 for line in lines), lines
assert reporter.take_log_lines(1000) == [], "taken lines are gone"
reporter.shutdown()
expect(sdk.ReporterError.ShutDown, lambda: reporter.retry(second))
print("python bindings: ok")
