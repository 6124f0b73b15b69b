//! `zenc`: the command-line face of the compiler. Each subcommand parses
//! its arguments, calls the library, renders and sets the exit code; the
//! contracts are in LANGUAGE.md §8.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use zenc::diagnostic::Diagnostic;
use zenc::source::SourceMap;

#[derive(Parser)]
#[command(name = "zenc", version, about = "The Zen policy compiler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policies and print diagnostics.
    Check {
        /// Policy files to check (each with its imports).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Format policies in place in the canonical layout.
    Fmt {
        /// Files to format; `-` formats standard input to standard output.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Github,
}

/// Exit codes shared by the subcommands.
const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_UNREADABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            files,
            format,
            deny_warnings,
        } => check(&files, format, deny_warnings),
        Command::Fmt { files, check } => fmt(&files, check),
    };
    ExitCode::from(code)
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Prints diagnostics in `format`: human ones on stderr, machine ones on
/// stdout.
fn emit(diagnostics: &[Diagnostic], sources: &SourceMap, format: Format) {
    match format {
        Format::Human => {
            let text = zenc::render::human(diagnostics, sources, color(), terminal_width());
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        Format::Json => print!("{}", zenc::render::json(diagnostics, sources)),
        Format::Github => print!("{}", zenc::render::github(diagnostics, sources)),
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn check(files: &[PathBuf], format: Format, deny_warnings: bool) -> u8 {
    let mut code = EXIT_OK;
    for path in files {
        let compilation = match zenc::check_path(path) {
            Ok(c) => c,
            Err(error) => {
                eprintln!("error: {error}");
                code = EXIT_UNREADABLE;
                continue;
            }
        };
        emit(&compilation.diagnostics, &compilation.program.sources, format);
        let errors = compilation.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = compilation.diagnostics.len() - errors;
        if format == Format::Human {
            match &compilation.checked {
                Some(checked) if warnings == 0 => eprintln!(
                    "checked {}: ok ({}, {})",
                    path.display(),
                    plural(checked.policy.routes.len(), "route"),
                    plural(checked.tests.len(), "test")
                ),
                _ => eprintln!(
                    "checked {}: {}, {}",
                    path.display(),
                    plural(errors, "error"),
                    plural(warnings, "warning")
                ),
            }
        }
        if (errors > 0 || (deny_warnings && warnings > 0)) && code == EXIT_OK {
            code = EXIT_FAILED;
        }
    }
    code
}

fn fmt(files: &[PathBuf], check_only: bool) -> u8 {
    let mut code = EXIT_OK;
    for path in files {
        let stdin = path == Path::new("-");
        let text = if stdin {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map(|_| text)
        } else {
            std::fs::read_to_string(path)
        };
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: cannot read `{}`: {error}", path.display());
                code = EXIT_UNREADABLE;
                continue;
            }
        };
        let mut sources = SourceMap::new();
        let file = sources.add(zenc::source::SourceFile::new(path.display().to_string(), text.as_str()));
        // Formatting re-writes every string, so a file whose strings do not
        // decode (bad escapes) is left alone like one that does not parse.
        let parsed = match zenc::syntax::parse(file, &text) {
            Ok((parsed, diagnostics)) if diagnostics.is_empty() => parsed,
            Ok((_, diagnostics)) => {
                emit(&diagnostics, &sources, Format::Human);
                code = code.max(EXIT_FAILED);
                continue;
            }
            Err(diagnostic) => {
                emit(&[diagnostic], &sources, Format::Human);
                code = code.max(EXIT_FAILED);
                continue;
            }
        };
        let formatted = zenc::fmt::format_parsed(&text, &parsed.file, &parsed.comments);
        if stdin {
            print!("{formatted}");
        } else if formatted != text {
            if check_only {
                eprintln!("{} is not formatted", path.display());
                code = code.max(EXIT_FAILED);
            } else if let Err(error) = std::fs::write(path, &formatted) {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                code = EXIT_UNREADABLE;
            }
        }
    }
    code
}
