//! The open-file cache of static routes, as nginx's `open_file_cache`: what
//! a file lookup needs (the file found for a request path, its metadata,
//! validators and content type, an open handle, and the bytes of a small
//! file) is kept and reused for `VALID`, then checked again. Every
//! file-system call runs on tokio's blocking pool, never on the async
//! workers that serve connections.
//!
//! Staleness: a change to a file, or a file that appears or goes, is seen
//! at most `VALID` later (nginx `open_file_cache_valid`). Lookups that
//! found nothing are cached too (nginx `open_file_cache_errors on`), so a
//! flood of requests for missing files costs no system call each.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};

/// How long a lookup is trusted before the file system is asked again.
pub const VALID: std::time::Duration = std::time::Duration::from_secs(1);
/// Files up to this size are kept in memory whole.
pub const SMALL: u64 = 64 * 1024;
/// At most this many lookups are kept; past it, stale ones go first.
const ENTRIES: usize = 10_000;
/// At most this many bytes of small files are kept in memory.
const CONTENT_BUDGET: u64 = 64 * 1024 * 1024;

/// One file a static route answers with.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    file: File,
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// A strong validator from size and modification time, quoted.
    pub etag: String,
    pub last_modified: Option<String>,
    pub content_type: String,
    /// The whole file, when it is small and the budget allowed.
    content: Option<Bytes>,
    /// (device, inode, size, mtime): what says the file changed.
    identity: (u64, u64, u64, i64, i64),
}

impl Found {
    /// Bytes `start..end` of the file: from memory when held, else read at
    /// that offset from the open handle on the blocking pool. Fewer than
    /// asked when the file shrank since.
    pub async fn read(self: &Arc<Self>, start: u64, end: u64) -> std::io::Result<Bytes> {
        if let Some(content) = &self.content {
            let end = end.min(content.len() as u64);
            return Ok(content.slice(start.min(end) as usize..end as usize));
        }
        let found = Arc::clone(self);
        blocking(move || {
            let mut buffer = BytesMut::zeroed((end - start) as usize);
            let mut filled = 0;
            while filled < buffer.len() {
                match found.file.read_at(&mut buffer[filled..], start + filled as u64)? {
                    0 => break,
                    n => filled += n,
                }
            }
            buffer.truncate(filled);
            Ok(buffer.freeze())
        })
        .await
    }
}

/// A cached lookup: the file found (or none), and when that was checked.
#[derive(Debug, Clone)]
struct Entry {
    found: Option<Arc<Found>>,
    checked: Instant,
}

/// What identifies a lookup: the route's root, the path, and its
/// `index` and `fallback`.
type Key = (PathBuf, String, Option<String>, Option<String>);

/// The cache, shared by every connection and kept across reloads (its
/// keys name the root, so a policy with another root finds other files).
#[derive(Debug, Default)]
pub struct FileCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    content_bytes: u64,
}

impl FileCache {
    /// The file a static route answers `path` with (see `find_file`).
    pub async fn find(
        &self,
        root: &Path,
        path: &str,
        index: Option<&str>,
        fallback: Option<&str>,
    ) -> Option<Arc<Found>> {
        let key: Key = (
            root.to_path_buf(),
            path.to_string(),
            index.map(str::to_string),
            fallback.map(str::to_string),
        );
        let (previous, allowance) = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let previous = match entries.map.get(&key) {
                Some(entry) if entry.checked.elapsed() < VALID => return entry.found.clone(),
                Some(entry) => entry.found.clone(),
                None => None,
            };
            (previous, CONTENT_BUDGET.saturating_sub(entries.content_bytes))
        };
        let (root, path) = (key.0.clone(), key.1.clone());
        let (index, fallback) = (key.2.clone(), key.3.clone());
        let found = blocking(move || {
            Ok(look_up(
                &root,
                &path,
                index.as_deref(),
                fallback.as_deref(),
                previous,
                allowance,
            ))
        })
        .await
        .ok()
        .flatten();
        self.store(key, found.clone());
        found
    }

    fn store(&self, key: Key, found: Option<Arc<Found>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.map.len() >= ENTRIES && !entries.map.contains_key(&key) {
            entries.map.retain(|_, entry| entry.checked.elapsed() < VALID);
            if entries.map.len() >= ENTRIES {
                entries.map.clear();
            }
            entries.content_bytes = entries.map.values().map(|e| held(&e.found)).sum();
        }
        let added = held(&found);
        let entry = Entry {
            found,
            checked: Instant::now(),
        };
        let replaced = entries.map.insert(key, entry).map_or(0, |old| held(&old.found));
        entries.content_bytes = entries.content_bytes.saturating_sub(replaced) + added;
    }
}

/// The bytes of content an entry holds in memory.
fn held(found: &Option<Arc<Found>>) -> u64 {
    found
        .as_ref()
        .and_then(|f| f.content.as_ref())
        .map_or(0, |c| c.len() as u64)
}

/// Runs file-system work on the blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(std::io::Error::other)?
}

/// The file a static route answers `path` with: the file itself, else a
/// directory's `index`, else the `fallback`; `None` for a `404`. Every
/// candidate is resolved inside `root`, so none leads out of it. An
/// unchanged file keeps its `previous` handle and content.
fn look_up(
    root: &Path,
    path: &str,
    index: Option<&str>,
    fallback: Option<&str>,
    previous: Option<Arc<Found>>,
    allowance: u64,
) -> Option<Arc<Found>> {
    let relative = crate::actions::decode(path.trim_start_matches('/')).unwrap_or_default();
    let mut found = inside(root, &relative);
    if let Some((dir, metadata)) = &found {
        if metadata.is_dir() {
            found = index.and_then(|index| inside(root, &dir.strip_prefix(root).unwrap_or(&relative).join(index)));
        }
    }
    if found.as_ref().is_none_or(|(_, m)| !m.is_file()) {
        found = fallback
            .and_then(|fallback| inside(root, Path::new(fallback)))
            .filter(|(_, m)| m.is_file());
    }
    let (path, metadata) = found?;
    let identity = identity(&metadata);
    if let Some(previous) = previous.filter(|p| p.path == path && p.identity == identity) {
        return Some(previous);
    }
    open(path, &metadata, identity, allowance)
}

/// The canonical path and metadata of `relative` under `root`, if it
/// exists there: a symlink that leads outside is refused.
fn inside(root: &Path, relative: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    let candidate = std::fs::canonicalize(root.join(relative)).ok()?;
    if !candidate.starts_with(root) {
        return None;
    }
    let metadata = std::fs::metadata(&candidate).ok()?;
    Some((candidate, metadata))
}

fn identity(metadata: &std::fs::Metadata) -> (u64, u64, u64, i64, i64) {
    (
        metadata.dev(),
        metadata.ino(),
        metadata.len(),
        metadata.mtime(),
        metadata.mtime_nsec(),
    )
}

/// Opens a file found, with what every answer about it needs.
fn open(
    path: PathBuf,
    metadata: &std::fs::Metadata,
    identity: (u64, u64, u64, i64, i64),
    allowance: u64,
) -> Option<Arc<Found>> {
    let file = File::open(&path).ok()?;
    let len = metadata.len();
    let content = if len <= SMALL && len <= allowance {
        let mut buffer = vec![0u8; len as usize];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read_at(&mut buffer[filled..], filled as u64).ok()? {
                0 => break,
                n => filled += n,
            }
        }
        buffer.truncate(filled);
        Some(Bytes::from(buffer))
    } else {
        None
    };
    let modified = metadata.modified().ok();
    Some(Arc::new(Found {
        content_type: mime_guess::from_path(&path).first_or_octet_stream().to_string(),
        etag: etag(len, modified),
        last_modified: modified.map(httpdate::fmt_http_date),
        path,
        file,
        len,
        modified,
        content,
        identity,
    }))
}

/// A strong validator from size and modification time.
fn etag(len: u64, modified: Option<SystemTime>) -> String {
    let nanos = modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("zentinel-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("a.txt"), "first").unwrap();
        std::fs::write(root.join("docs/index.html"), "docs").unwrap();
        std::fs::write(root.join("big.bin"), vec![7u8; (SMALL + 1) as usize]).unwrap();
        std::fs::canonicalize(root).unwrap()
    }

    #[tokio::test]
    async fn small_files_are_held_large_ones_read_from_the_handle() {
        let root = site("held");
        let cache = FileCache::default();
        let small = cache.find(&root, "/a.txt", None, None).await.unwrap();
        assert!(small.content.is_some());
        assert_eq!(&small.read(1, 3).await.unwrap()[..], b"ir");
        let big = cache.find(&root, "/big.bin", None, None).await.unwrap();
        assert!(big.content.is_none());
        assert_eq!(big.read(SMALL - 1, SMALL + 1).await.unwrap().len(), 2);
        let index = cache.find(&root, "/docs/", Some("index.html"), None).await.unwrap();
        assert_eq!(&index.read(0, 4).await.unwrap()[..], b"docs");
    }

    #[tokio::test]
    async fn a_lookup_is_reused_within_the_bound_and_checked_after_it() {
        let root = site("bound");
        let cache = FileCache::default();
        let first = cache.find(&root, "/a.txt", None, None).await.unwrap();
        std::fs::write(root.join("a.txt"), "second, longer").unwrap();
        let again = cache.find(&root, "/a.txt", None, None).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "within VALID the lookup is reused");
        assert!(cache.find(&root, "/new.txt", None, None).await.is_none());
        std::fs::write(root.join("new.txt"), "new").unwrap();
        std::thread::sleep(VALID + std::time::Duration::from_millis(50));
        let changed = cache.find(&root, "/a.txt", None, None).await.unwrap();
        assert_eq!(&changed.read(0, changed.len).await.unwrap()[..], b"second, longer");
        assert_ne!(changed.etag, first.etag);
        assert!(
            cache.find(&root, "/new.txt", None, None).await.is_some(),
            "a new file is seen"
        );
        std::fs::remove_file(root.join("a.txt")).unwrap();
        std::thread::sleep(VALID + std::time::Duration::from_millis(50));
        assert!(
            cache.find(&root, "/a.txt", None, None).await.is_none(),
            "a removed file is gone"
        );
    }

    #[tokio::test]
    async fn an_unchanged_file_keeps_its_handle() {
        let root = site("same");
        let cache = FileCache::default();
        let first = cache.find(&root, "/big.bin", None, None).await.unwrap();
        std::thread::sleep(VALID + std::time::Duration::from_millis(50));
        let again = cache.find(&root, "/big.bin", None, None).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }
}
