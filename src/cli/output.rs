//! Standard output and error rendering: a closed pipe ends the program quietly, a full
//! disk is an error with a message, and under `--json` a failure is a JSON document on
//! stdout.

use std::io::Write;

use mixcast::Error;
use serde::Serialize;

/// stdout was closed by the reader (`| head`): stop quietly.
#[derive(Debug, thiserror::Error)]
#[error("stdout closed")]
pub struct ClosedPipe;

/// A bad command-line request that the library does not check (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Write `text` to stdout and flush.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedPipe.into()),
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}

/// Print a document as pretty JSON.
pub fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    print(&s)
}

/// The error's message with each cause once: a cause already quoted by the message
/// above it (thiserror messages often embed their source) is not repeated.
pub fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if msg.contains(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}

/// Exit code (2 bad input, 1 other failure), `kind` and culprit of an error.
pub fn classify(e: &anyhow::Error) -> (u8, &'static str, Option<String>) {
    if let Some(err) = e.downcast_ref::<Error>() {
        let code = if err.is_user_error() { 2 } else { 1 };
        return (code, err.kind(), err.culprit());
    }
    if e.downcast_ref::<UsageError>().is_some() {
        return (2, "usage", None);
    }
    (1, "internal", None)
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: &'a str,
    culprit: Option<&'a str>,
}

/// Report a failure: on stderr, and also as `{"error": …}` on stdout under `--json`.
/// Returns the exit code.
pub fn report(e: &anyhow::Error, json: bool) -> u8 {
    if e.downcast_ref::<ClosedPipe>().is_some() {
        return 0;
    }
    if super::progress::json_logs() {
        let (code, kind, culprit) = classify(e);
        super::progress::log_json(
            "error",
            "error",
            serde_json::json!({"kind": kind, "message": message(e), "culprit": culprit, "exit_code": code}),
        );
    } else {
        eprintln!("error: {}", message(e));
    }
    if json {
        report_json_only(e);
    }
    classify(e).0
}

/// Print only the JSON error document (the message is already on stderr).
pub fn report_json_only(e: &anyhow::Error) {
    let (_, kind, culprit) = classify(e);
    let msg = message(e);
    let doc = ErrorDoc {
        error: ErrorBody {
            kind,
            message: &msg,
            culprit: culprit.as_deref(),
        },
    };
    if let Ok(s) = serde_json::to_string_pretty(&doc) {
        let _ = print(&(s + "\n"));
    }
}
