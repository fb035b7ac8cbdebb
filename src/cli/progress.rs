//! Renders library events: a progress bar on a terminal, plain lines otherwise, JSON
//! lines under `--log-format json`, nothing when quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mixcast::observe::{Event, Observer};

static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Switch stderr to JSON lines (`--log-format json`).
pub fn set_json_logs(on: bool) {
    JSON_LOGS.store(on, Ordering::Relaxed);
}

/// Whether stderr carries JSON lines.
pub fn json_logs() -> bool {
    JSON_LOGS.load(Ordering::Relaxed)
}

/// One JSON log line on stderr: `{"ts": unix seconds, "level", "event", …fields}`.
pub fn log_json(level: &str, event: &str, fields: serde_json::Value) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut line =
        serde_json::json!({"ts": (ts * 1e3).round() / 1e3, "level": level, "event": event});
    if let (Some(m), serde_json::Value::Object(f)) = (line.as_object_mut(), fields) {
        m.extend(f);
    }
    eprintln!("{line}");
}

/// How progress reaches the user.
pub enum Progress {
    /// JSON lines on stderr (`--log-format json`); progress every 10%.
    Json(Mutex<usize>),
    /// Nothing at all (`--quiet`).
    Quiet,
    /// Stage and warning lines on stderr, no bars (not a terminal, or JSON logs).
    Plain,
    /// Lines plus a live bar on a terminal.
    Bar(Mutex<Option<ProgressBar>>),
}

impl Progress {
    /// The right renderer for stderr.
    pub fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if json_logs() {
            Progress::Json(Mutex::new(usize::MAX))
        } else if std::io::stderr().is_terminal() {
            Progress::Bar(Mutex::new(None))
        } else {
            Progress::Plain
        }
    }
}

impl Observer for Progress {
    fn event(&self, e: Event<'_>) {
        match (self, e) {
            (Progress::Quiet, _) => {}
            (Progress::Json(_), Event::Stage(s)) => {
                log_json("info", "stage", serde_json::json!({"message": s}))
            }
            (Progress::Json(_), Event::Warning(w)) => {
                log_json("warn", "warning", serde_json::json!({"message": w}))
            }
            (Progress::Json(last), Event::Progress { task, done, total }) => {
                let decile = (done * 10).checked_div(total).unwrap_or(10);
                let mut g = last.lock().unwrap_or_else(|e| e.into_inner());
                if *g != decile {
                    *g = decile;
                    log_json(
                        "info",
                        "progress",
                        serde_json::json!({"task": task, "done": done, "total": total}),
                    );
                }
            }
            (_, Event::Stage(s)) => eprintln!("{s}"),
            (_, Event::Warning(w)) => eprintln!("warning: {w}"),
            (Progress::Plain, Event::Progress { .. }) => {}
            (Progress::Bar(bar), Event::Progress { task, done, total }) => {
                let mut g = bar.lock().unwrap_or_else(|e| e.into_inner());
                let b = g.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(
                        Some(total as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    let style = format!("  {{bar:40}} {{pos}}/{{len}} {task} ({{elapsed}})");
                    b.set_style(
                        ProgressStyle::with_template(&style)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                });
                b.set_position(done as u64);
                if done >= total {
                    b.finish_and_clear();
                    *g = None;
                }
            }
        }
    }
}
