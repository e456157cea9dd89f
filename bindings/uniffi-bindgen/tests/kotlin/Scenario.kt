// The reporter's scenario through the generated Kotlin bindings, on the JVM (JNA), against
// the dev stack that `tests/foreign_scenario.rs` started: an expired token refreshed through
// the app's SessionRefresher, begin/progress/stage/complete, a failure, offline then flush,
// typed errors with `detail`, the buffered log lines, and a shutdown that does not wait for a
// refresh the app never answers. The Rust test then reads the rows the server holds.
//
// Environment: SUPABASE_URL, SUPABASE_ANON_KEY, USER_TOKEN (valid), SCRATCH_DIR.

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.runBlocking
import uniffi.monitor_sdk.*
import java.io.File
import java.util.concurrent.atomic.AtomicInteger

fun env(name: String): String = System.getenv(name) ?: error("$name is not set")

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

inline fun <reified E : Throwable> expectThrows(call: () -> Unit): E {
    try {
        call()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

class Refresher(private val token: String?) : SessionRefresher {
    val calls = AtomicInteger(0)
    override suspend fun refreshAccessToken(): String? {
        calls.incrementAndGet()
        return token
    }
}

/** A refresh the app never answers. */
class NeverAnswers : SessionRefresher {
    val calls = AtomicInteger(0)
    override suspend fun refreshAccessToken(): String? {
        calls.incrementAndGet()
        return CompletableDeferred<String?>().await()
    }
}

fun config(name: String) = ReporterConfig(
    supabaseUrl = env("SUPABASE_URL"),
    anonKey = env("SUPABASE_ANON_KEY"),
    databasePath = File(env("SCRATCH_DIR"), "$name.sqlite").path,
    retryBaseMs = 50uL,
    retryMaxMs = 400uL,
)

fun main() = runBlocking {
    val size = 10uL * 1024uL * 1024uL
    val refresher = Refresher(env("USER_TOKEN"))
    // The app starts with an expired session: the first batch meets 401, the SDK asks the
    // app's refresher (off its own threads) and resends with the new token.
    val reporter = UploadReporter(config("main"), "expired.session.token", refresher)
    reporter.setLogLevel(LogLevel.INFO)

    val a = reporter.beginUpload("kt_a", "Vacances", "kt_a.mov", size, UploadSource.RECORDED, """{"duration":42}""")
    reporter.reportStage(a, UploadStage.UPLOADING)
    reporter.reportProgress(a, size / 4uL, size)
    reporter.reportProgress(a, size / 2uL, size)
    reporter.reportStage(a, UploadStage.CREATING_RECORD)
    reporter.complete(a, null)
    reporter.flush(30_000uL)
    check(refresher.calls.get() >= 1) { "the refresher was never asked" }

    val b = reporter.beginUpload("kt_b", null, "kt_b.mov", size, UploadSource.IMPORTED, null)
    reporter.reportProgress(b, 1000uL, size)
    reporter.fail(b, "network", "connection reset", 1u)

    // Offline: calls still record; flush says Offline; back online it delivers.
    reporter.setOnline(false)
    val c = reporter.beginUpload("kt_c", null, "kt_c.mov", 100uL, null, null)
    reporter.complete(c, null)
    expectThrows<ReporterException.Offline> { runBlocking { reporter.flush(1_000uL) } }
    reporter.setOnline(true)
    reporter.flush(30_000uL)

    // Typed errors, each with its `detail` (no field named `message`: Throwable has one).
    val terminal = expectThrows<ReporterException.Rejected> { reporter.reportProgress(a, 1uL, size) }
    check(terminal.rule == RuleViolation.TERMINAL_STATE) { "rule ${terminal.rule}" }
    check(terminal.detail.isNotEmpty() && terminal.message!!.contains("detail")) { "message ${terminal.message}" }
    val range = expectThrows<ReporterException.Rejected> {
        val d = reporter.beginUpload("kt_d", null, "kt_d.mov", 10uL, null, null)
        reporter.reportProgress(d, 20uL, 10uL)
    }
    check(range.rule == RuleViolation.OUT_OF_RANGE) { "rule ${range.rule}" }
    expectThrows<ReporterException.InvalidArgument> { reporter.reportProgress("not-an-id", 1uL, 2uL) }

    val health = reporter.health()
    check(health.deliveredEvents >= 8uL) { "health $health" }
    val lines = reporter.takeLogLines(1000u)
    check(lines.any { it.message.contains("asking the app for a fresh token") }) { "log lines $lines" }

    reporter.shutdown()
    expectThrows<ReporterException.ShutDown> { reporter.retry(b) }
    reporter.close()

    // A refresh the app never answers does not hold up shutdown.
    val never = NeverAnswers()
    val stuck = UploadReporter(config("stuck"), "expired.session.token", never)
    val e = stuck.beginUpload("kt_e", null, "kt_e.mov", 10uL, null, null)
    stuck.complete(e, null)
    val deadline = System.nanoTime() + 20_000_000_000L
    while (never.calls.get() == 0) {
        check(System.nanoTime() < deadline) { "the stuck refresher was never asked" }
        Thread.sleep(10)
    }
    val started = System.nanoTime()
    stuck.shutdown()
    val tookMs = (System.nanoTime() - started) / 1_000_000
    check(tookMs < 1000) { "shutdown took $tookMs ms" }
    stuck.close()
    println("kotlin scenario: ok (refreshes ${refresher.calls.get()}, delivered ${health.deliveredEvents}, shutdown with a pending refresh ${tookMs} ms)")
}
