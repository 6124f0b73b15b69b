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
    /// Compile a policy to a `.zbin` artifact.
    Build {
        file: PathBuf,
        /// Where to write the artifact (default: FILE.zbin beside the source).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Show which route wins a request, and why.
    Explain {
        /// A policy (`.zen`, compiled in memory) or an artifact (`.zbin`).
        file: PathBuf,
        method: String,
        /// `http://host[:port]/path?query`
        url: String,
        /// A request header, `-H "name: value"` (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// The client's address (it decides `ketama by client_ip`).
        #[arg(long, value_name = "IP")]
        from: Option<std::net::IpAddr>,
        /// Describe an absolute-form request (`GET http://host/path
        /// HTTP/1.1`): routed on the URL's host, which `-H host` must
        /// agree with.
        #[arg(long)]
        absolute_form: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run the policy's `test` blocks against its compiled artifact.
    Test {
        file: PathBuf,
        /// Fail when fewer than this percentage of routes is reached.
        #[arg(long, value_name = "PCT")]
        min_coverage: Option<f64>,
    },
    /// Show an artifact's header, sources and sections.
    Inspect { file: PathBuf },
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
        Command::Build { file, output } => build(&file, output),
        Command::Explain {
            file,
            method,
            url,
            headers,
            from,
            absolute_form,
            json,
        } => explain(&file, &method, &url, &headers, from, absolute_form, json),
        Command::Test { file, min_coverage } => test(&file, min_coverage),
        Command::Inspect { file } => inspect(&file),
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
            match compilation.checked() {
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
        if stdin && !check_only {
            print!("{formatted}");
        } else if formatted != text {
            if check_only {
                let name = if stdin {
                    "standard input".to_string()
                } else {
                    path.display().to_string()
                };
                eprintln!("{name} is not formatted");
                code = code.max(EXIT_FAILED);
            } else if let Err(error) = std::fs::write(path, &formatted) {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                code = EXIT_UNREADABLE;
            }
        }
    }
    code
}

/// Loads and compiles a policy, printing its diagnostics; `None` (with
/// the exit code) when it does not compile.
fn compile(path: &Path) -> Result<zenc::Compilation, u8> {
    let compilation = match zenc::check_path(path) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("error: {error}");
            return Err(EXIT_UNREADABLE);
        }
    };
    emit(&compilation.diagnostics, &compilation.program.sources, Format::Human);
    if compilation.checked().is_none() {
        let errors = compilation.diagnostics.iter().filter(|d| d.is_error()).count();
        eprintln!(
            "error: {} does not compile ({})",
            path.display(),
            plural(errors, "error")
        );
        return Err(EXIT_FAILED);
    }
    Ok(compilation)
}

fn human_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn build(path: &Path, output: Option<PathBuf>) -> u8 {
    let started = std::time::Instant::now();
    let compilation = match compile(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let output = output.unwrap_or_else(|| path.with_extension("zbin"));
    let output_dir = output.parent().map(Path::to_path_buf).unwrap_or_default();
    let artifact = compilation.artifact_at(&output_dir).unwrap_or_default();
    // Write beside the target and rename, so that a reader (a running
    // zentinel reloading) never sees half a file.
    let temporary = output.with_extension("zbin.tmp");
    if let Err(error) = std::fs::write(&temporary, &artifact).and_then(|_| std::fs::rename(&temporary, &output)) {
        eprintln!("error: cannot write `{}`: {error}", output.display());
        let _ = std::fs::remove_file(&temporary);
        return EXIT_UNREADABLE;
    }
    let stats = compilation.built.as_ref().expect("stats come with the artifact").stats;
    let automaton = |name: &str, patterns: usize, states: usize| {
        if patterns == 0 {
            format!("no {name} automaton")
        } else {
            format!(
                "{name} automaton {} ({})",
                plural(states, "state"),
                plural(patterns, "pattern")
            )
        }
    };
    println!(
        "built {}: {} ({} alternatives), {}, {}, {} in {} ms",
        output.display(),
        plural(stats.routes, "route"),
        stats.alternatives,
        automaton("host", stats.host_patterns, stats.host_states),
        automaton("path", stats.path_patterns, stats.path_states),
        human_bytes(artifact.len()),
        started.elapsed().as_millis()
    );
    EXIT_OK
}

/// The bytes of an artifact: read from a `.zbin`, or compiled from a `.zen`.
fn artifact_bytes(path: &Path) -> Result<(zbin::AlignedBytes, Option<zenc::Compilation>), u8> {
    let is_artifact = path.extension().is_some_and(|e| e == "zbin")
        || std::fs::read(path).is_ok_and(|b| b.starts_with(&zbin::format::MAGIC));
    if is_artifact {
        return zbin::AlignedBytes::read(path).map(|b| (b, None)).map_err(|error| {
            eprintln!("error: cannot read `{}`: {error}", path.display());
            EXIT_UNREADABLE
        });
    }
    let compilation = compile(path)?;
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().unwrap_or_default());
    Ok((bytes, Some(compilation)))
}

fn explain(
    path: &Path,
    method: &str,
    url: &str,
    headers: &[String],
    from: Option<std::net::IpAddr>,
    absolute_form: bool,
    json: bool,
) -> u8 {
    let Some((scheme, authority, raw_path, query)) = zenc::explain::parse_url(url) else {
        eprintln!("error: invalid URL `{url}`: write a full URL, such as `http://example.com/path?q=1`");
        return EXIT_UNREADABLE;
    };
    let mut parsed_headers = Vec::new();
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            eprintln!("error: invalid header `{header}`: write `-H \"name: value\"`");
            return EXIT_UNREADABLE;
        };
        parsed_headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (bytes, _) = match artifact_bytes(path) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let program = match zbin::Program::from_bytes(bytes.as_bytes()) {
        Ok(p) => p,
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            return EXIT_FAILED;
        }
    };
    let request = zenc::explain::RequestSpec {
        method: method.to_string(),
        scheme,
        authority,
        path: raw_path,
        query,
        headers: parsed_headers,
        client_ip: from,
        absolute_form,
    };
    let outcome = zenc::explain::evaluate(&program, &request);
    if json {
        println!("{}", zenc::explain::to_json(&outcome));
    } else {
        print!("{}", zenc::explain::to_text(&request, &outcome));
    }
    EXIT_OK
}

fn test(path: &Path, min_coverage: Option<f64>) -> u8 {
    let compilation = match compile(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().unwrap_or_default());
    let program = match zbin::Program::from_bytes(bytes.as_bytes()) {
        Ok(p) => p,
        Err(error) => {
            eprintln!("error: the compiled artifact does not load: {error}");
            return EXIT_FAILED;
        }
    };
    let cases = &compilation.checked().expect("checked with the artifact").tests;
    let report = zenc::testing::run(&program, cases);
    for (result, case) in report.results.iter().zip(cases) {
        if result.failures.is_empty() {
            println!("test {} ... ok", result.title);
        } else {
            println!("test {} ... FAILED", result.title);
            for failure in &result.failures {
                println!("    {failure}");
            }
            for line in zenc::explain::to_text(&case.request, &result.outcome).lines() {
                println!("    | {line}");
            }
        }
    }
    println!();
    println!("{} passed, {} failed", report.passed(), report.failed());
    let coverage = report.coverage();
    if report.unreached.is_empty() {
        println!(
            "coverage: every route is reached ({} of {})",
            report.routes, report.routes
        );
    } else {
        let names: Vec<String> = report.unreached.iter().map(|r| format!("`{r}`")).collect();
        println!(
            "coverage: {} of {} routes ({coverage:.0}%); no test reaches {}",
            report.routes - report.unreached.len(),
            report.routes,
            names.join(", ")
        );
    }
    if report.failed() > 0 {
        return EXIT_FAILED;
    }
    if let Some(min) = min_coverage {
        if coverage + 1e-9 < min {
            eprintln!("error: coverage {coverage:.0}% is below the minimum of {min}%");
            return EXIT_FAILED;
        }
    }
    EXIT_OK
}

fn inspect(path: &Path) -> u8 {
    let bytes = match zbin::AlignedBytes::read(path) {
        Ok(b) => b,
        Err(error) => {
            eprintln!("error: cannot read `{}`: {error}", path.display());
            return EXIT_UNREADABLE;
        }
    };
    let program = match zbin::Program::from_bytes(bytes.as_bytes()) {
        Ok(p) => p,
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            return EXIT_FAILED;
        }
    };
    print!("{}", zenc::inspect::describe(path, &program));
    EXIT_OK
}
