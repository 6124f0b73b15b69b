//! Loading an artifact: read the file into memory this process owns,
//! verify it with `zbin`, and keep that memory alive for as long as the
//! program that borrows it. What was verified is what runs until another
//! artifact is loaded: the file can be rewritten in place, truncated or
//! deleted meanwhile (a mapping of it could change or fault under its
//! readers). Requests hold an `Arc<Loaded>`, so a reload never changes a
//! request midway and an old artifact is freed when its last request ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zbin::{AlignedBytes, ArtifactError, Program};

/// Why an artifact could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Io(PathBuf, std::io::Error),
    Invalid(PathBuf, ArtifactError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(path, e) => write!(f, "cannot read `{}`: {e}", path.display()),
            LoadError::Invalid(path, e) => write!(f, "`{}`: {e}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {}

/// A verified artifact and the memory it lives in.
pub struct Loaded {
    // Declared before `_bytes`, so it is dropped first: it borrows them.
    program: Program<'static>,
    _bytes: AlignedBytes,
    /// The directory relative paths in the policy are resolved against.
    pub dir: PathBuf,
    /// The digest of the sources, as lowercase hex.
    pub digest: String,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("dir", &self.dir)
            .field("digest", &self.digest)
            .finish()
    }
}

impl Loaded {
    pub fn program(&self) -> &Program<'_> {
        &self.program
    }

    pub fn policy(&self) -> &zbin::model::Policy {
        self.program.policy()
    }

    /// A path written in the policy, resolved against the artifact's
    /// directory when relative.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

/// Reads and verifies the artifact at `path`.
pub fn load(path: &Path) -> Result<Arc<Loaded>, LoadError> {
    let owned = AlignedBytes::read(path).map_err(|e| LoadError::Io(path.to_path_buf(), e))?;
    // SAFETY: the slice points into the heap buffer of `owned`, which
    // `Loaded` owns and never changes or moves out of (moving the struct
    // does not move its heap buffer); `program` is dropped before it, so
    // the borrow never outlives the memory.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(owned.as_bytes().as_ptr(), owned.as_bytes().len()) };
    let program = Program::from_bytes(bytes).map_err(|e| LoadError::Invalid(path.to_path_buf(), e))?;
    let dir = path
        .parent()
        .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let digest = program.header.digest_hex();
    Ok(Arc::new(Loaded {
        program,
        _bytes: owned,
        dir,
        digest,
    }))
}
