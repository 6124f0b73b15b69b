//! Loading a policy: the root file and, depth first, everything it
//! imports. `std/NAME` comes from the embedded stdlib, `./file.zen` is
//! resolved against the importing file's directory; each file is loaded
//! once, and a cycle is reported with the chain that closes it.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::ast::{File, ItemKind, Str};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use crate::stdlib;
use crate::syntax::{self, Comment};

/// One parsed file of the program.
#[derive(Debug, Clone)]
pub struct Module {
    pub id: FileId,
    pub ast: File,
    pub comments: Vec<Comment>,
    /// Part of the standard library (its unused items are not reported).
    pub is_stdlib: bool,
    /// The directory that relative imports in this file are read from;
    /// `None` for stdlib modules.
    pub dir: Option<PathBuf>,
    /// The same directory relative to the root file's directory: paths
    /// written in this file are stored relative to the root's directory,
    /// so that an artifact does not depend on where it was built.
    pub rel_dir: Option<PathBuf>,
}

/// Everything loaded for one root file.
#[derive(Debug, Clone)]
pub struct Program {
    pub sources: SourceMap,
    /// Every module that parsed, the root first.
    pub modules: Vec<Module>,
    pub root: FileId,
}

/// The root file itself could not be read (exit code 2 in `zenc check`).
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for ReadError {}

/// Where an import leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ModuleKey {
    Std(String),
    Path(PathBuf),
}

/// A file an import leads to: its identity, and what loading it needs.
struct Imported {
    key: ModuleKey,
    name: String,
    text: String,
    is_stdlib: bool,
    dir: Option<PathBuf>,
}

struct Loader {
    sources: SourceMap,
    modules: Vec<Module>,
    diagnostics: Vec<Diagnostic>,
    /// Files loaded or being loaded.
    seen: HashMap<ModuleKey, FileId>,
    /// The chain of files being loaded, for cycle reports.
    stack: Vec<(ModuleKey, FileId)>,
    /// The root file's directory.
    root_dir: Option<PathBuf>,
}

/// Loads `path` and its imports from disk.
pub fn load(path: &Path) -> Result<(Program, Vec<Diagnostic>), ReadError> {
    let text = std::fs::read_to_string(path).map_err(|error| ReadError {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(load_source(path, &text))
}

/// Loads a root file whose text is already in hand (imports still come
/// from disk, relative to `path`).
pub fn load_source(path: &Path, text: &str) -> (Program, Vec<Diagnostic>) {
    let mut loader = Loader {
        sources: SourceMap::new(),
        modules: Vec::new(),
        diagnostics: Vec::new(),
        seen: HashMap::new(),
        stack: Vec::new(),
        root_dir: None,
    };
    let key = ModuleKey::Path(canonical(path));
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = loader.add(key, path.display().to_string(), text, false, Some(dir));
    let program = Program {
        sources: loader.sources,
        modules: loader.modules,
        root,
    };
    (program, loader.diagnostics)
}

impl Loader {
    /// Parses one file and loads its imports; returns its id.
    fn add(&mut self, key: ModuleKey, name: String, text: &str, is_stdlib: bool, dir: Option<PathBuf>) -> FileId {
        let id = self.sources.add(SourceFile::new(name, text));
        self.seen.insert(key.clone(), id);
        let parsed = match syntax::parse(id, text) {
            Ok((parsed, diagnostics)) => {
                self.diagnostics.extend(diagnostics);
                parsed
            }
            Err(diagnostic) => {
                self.diagnostics.push(diagnostic);
                return id;
            }
        };
        if self.root_dir.is_none() {
            self.root_dir = Some(dir.clone().unwrap_or_default());
        }
        self.stack.push((key, id));
        for item in &parsed.file.items {
            if let ItemKind::Import(target) = &item.kind {
                self.import(target, dir.as_deref());
            }
        }
        self.stack.pop();
        let rel_dir = dir.as_ref().map(|d| match self.root_dir.as_deref() {
            Some(root) => relative_to(&absolute(d), &absolute(root)),
            None => PathBuf::new(),
        });
        self.modules.push(Module {
            id,
            ast: parsed.file,
            comments: parsed.comments,
            is_stdlib,
            dir,
            rel_dir,
        });
        id
    }

    /// Loads the file an import names, once; an import of a file still
    /// being loaded closes a cycle and is reported.
    fn import(&mut self, target: &Str, dir: Option<&Path>) {
        let imported = match target.value.strip_prefix("std/") {
            Some(module) => self.std_import(target, module),
            None => self.file_import(target, dir),
        };
        let Some(imported) = imported else { return };
        if self.import_cycle(&imported.key, target.span) {
            return;
        }
        if self.seen.contains_key(&imported.key) {
            return; // loaded once already
        }
        self.add(
            imported.key,
            imported.name,
            &imported.text,
            imported.is_stdlib,
            imported.dir,
        );
    }

    /// `import "std/NAME"`: a module of the embedded standard library.
    fn std_import(&mut self, target: &Str, module: &str) -> Option<Imported> {
        let Some(text) = stdlib::module(module) else {
            let names: Vec<String> = stdlib::MODULES.iter().map(|(n, _)| format!("std/{n}")).collect();
            let help = did_you_mean(&target.value, names.iter().map(String::as_str)).unwrap_or_else(|| {
                let names: Vec<_> = stdlib::MODULES.iter().map(|(n, _)| format!("`std/{n}`")).collect();
                format!("the standard library has {}", names.join(", "))
            });
            self.diagnostics.push(
                Diagnostic::new(
                    Code::UnknownModule,
                    format!("unknown standard library module `{}`", target.value),
                    target.span,
                    "no such module",
                )
                .with_help(help),
            );
            return None;
        };
        Some(Imported {
            key: ModuleKey::Std(module.to_string()),
            name: target.value.clone(),
            text: text.to_string(),
            is_stdlib: true,
            dir: None,
        })
    }

    /// `import "./file.zen"`: a file relative to the importing file's
    /// directory, read unless it was loaded already. Stdlib modules have
    /// no directory, so they cannot import files.
    fn file_import(&mut self, target: &Str, dir: Option<&Path>) -> Option<Imported> {
        let Some(dir) = dir else {
            self.diagnostics.push(Diagnostic::new(
                Code::CannotRead,
                format!("cannot import `{}` from a standard library module", target.value),
                target.span,
                "only `std/NAME` imports work here",
            ));
            return None;
        };
        let path = clean(&dir.join(&target.value));
        let key = ModuleKey::Path(canonical(&path));
        if self.seen.contains_key(&key) {
            // Only the key matters now: to report a cycle.
            return Some(Imported {
                key,
                name: String::new(),
                text: String::new(),
                is_stdlib: false,
                dir: None,
            });
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(Imported {
                key,
                name: path.display().to_string(),
                text,
                is_stdlib: false,
                dir: path.parent().map(Path::to_path_buf),
            }),
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::CannotRead,
                        format!("cannot read imported file `{}`", path.display()),
                        target.span,
                        error.to_string(),
                    )
                    .with_help("imports are resolved relative to the file that names them"),
                );
                None
            }
        }
    }

    /// Whether importing `key` closes a cycle (the file is still being
    /// loaded); reports the chain of files that closes it.
    fn import_cycle(&mut self, key: &ModuleKey, span: Span) -> bool {
        let Some(position) = self.stack.iter().position(|(k, _)| k == key) else {
            return false;
        };
        let chain: Vec<String> = self.stack[position..]
            .iter()
            .map(|(_, id)| format!("`{}`", self.sources.get(*id).name))
            .chain(std::iter::once(format!(
                "`{}`",
                self.sources.get(self.stack[position].1).name
            )))
            .collect();
        self.diagnostics.push(
            Diagnostic::new(
                Code::ImportCycle,
                format!("import cycle: {}", chain.join(" imports ")),
                span,
                "this import closes the cycle",
            )
            .with_help("move what both files need into a third file that both import"),
        );
        true
    }
}

/// The path with `.` and `..` resolved lexically, for display.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The identity of a file on disk: its canonical path when it exists.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| clean(path))
}

/// Resolves a path written in a policy against the directory of the file
/// that names it (given relative to the root file's directory); used for
/// static roots, certificates and sockets. The result is relative to the
/// root file's directory, or absolute when written so.
pub fn resolve_relative(rel_dir: Option<&Path>, written: &str) -> String {
    let path = Path::new(written);
    match rel_dir {
        Some(dir) if path.is_relative() => {
            let joined = clean(&dir.join(path));
            if joined.as_os_str().is_empty() {
                ".".to_string()
            } else {
                joined.display().to_string()
            }
        }
        _ => written.to_string(),
    }
}

/// An absolute form of `path`, made lexically (no symlinks followed).
pub fn absolute(path: &Path) -> PathBuf {
    let base = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    clean(&std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()))
}

/// `target` relative to `base`, both absolute and clean.
pub fn relative_to(target: &Path, base: &Path) -> PathBuf {
    let target: Vec<Component> = target.components().collect();
    let base: Vec<Component> = base.components().collect();
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for component in &target[common..] {
        out.push(component);
    }
    out
}

impl Program {
    pub fn module(&self, id: FileId) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    /// The span of the start of the root file, for diagnostics about the
    /// policy as a whole.
    pub fn root_span(&self) -> Span {
        Span::new(self.root, 0, 0)
    }
}
