//! Atomic file output: write a temporary file beside the target, then rename, so a good
//! artifact is never replaced by a half-written one.

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write `path` atomically from a writer `fill` streams into (buffered), so a large
/// output need not be held in memory: a temporary file beside the target, synced, then
/// renamed; removed if `fill` or the write fails.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Serialise to pretty JSON and write atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut s = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Names of the files a run writes into an output folder, with their bytes.
pub type FileSet<'a> = [(&'a str, Vec<u8>)];

/// Replace a run's artifacts in `dir` as a set: every file is written into a staging
/// folder first, so a failure or a kill before the swap leaves the previous set whole.
/// When `dir` is new or holds nothing but files of this set, the staging folder is
/// renamed into place (the old folder moved aside, then removed); otherwise (a folder
/// with other files) the staged files are renamed in one after another, which narrows
/// a mixed set to the time of a few renames.
pub fn write_set(dir: &Path, files: &FileSet) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let pid = std::process::id();
    let ours = |n: &str| files.iter().any(|(f, _)| *f == n);
    let swappable = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e),
        Ok(entries) => entries.filter_map(Result::ok).all(|e| {
            e.file_type().is_ok_and(|t| t.is_file()) && ours(&e.file_name().to_string_lossy())
        }),
    } && dir.file_name().is_some();
    let stage = if swappable {
        parent.join(format!(".{name}.staging-{pid}"))
    } else {
        dir.join(format!(".staging-{pid}"))
    };
    let result = (|| {
        let _ = std::fs::remove_dir_all(&stage);
        std::fs::create_dir_all(&stage)?;
        for (f, bytes) in files {
            let mut out = std::fs::File::create(stage.join(f))?;
            out.write_all(bytes)?;
            out.sync_all()?;
        }
        if swappable {
            let old = parent.join(format!(".{name}.old-{pid}"));
            let had = dir.exists();
            if had {
                std::fs::rename(dir, &old)?;
            }
            if let Err(e) = std::fs::rename(&stage, dir) {
                if had {
                    let _ = std::fs::rename(&old, dir);
                }
                return Err(e);
            }
            if had {
                let _ = std::fs::remove_dir_all(&old);
            }
        } else {
            for (f, _) in files {
                std::fs::rename(stage.join(f), dir.join(f))?;
            }
            std::fs::remove_dir(&stage)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&stage);
    }
    result
}

/// FNV-1a 64-bit hash, used as a data fingerprint.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
