//! The reader thread: walks the inputs in order and sends one `Loaded` per article.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::decode::{ReadSettings, decode};
use super::json::{self, Shape};
use super::{Article, InputError, Loaded, SourceRef};

/// File endings read as articles when a directory is walked, each also gzipped (`.jsonl.gz`).
const ARTICLE_EXTENSIONS: &[&str] = &["txt", "md", "markdown", "html", "htm", "json", "jsonl", "ndjson"];

/// What a path's name says about it; its content decides the rest (see `json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Html,
    /// `.jsonl`/`.ndjson`: lines can be counted for progress without parsing.
    Jsonl,
    /// `.json`, or compressed: read to be known.
    Opaque,
}

/// A path's ending, lower-cased, and whether `.gz` followed it.
fn extension(path: &Path) -> (Option<String>, bool) {
    let lower = |p: &Path| p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match lower(path).as_deref() {
        Some("gz") => (path.file_stem().and_then(|stem| lower(Path::new(stem))), true),
        other => (other.map(str::to_string), false),
    }
}

fn kind_of(path: &Path) -> Kind {
    match extension(path) {
        (Some(e), false) if e == "jsonl" || e == "ndjson" => Kind::Jsonl,
        (Some(e), _) if e == "html" || e == "htm" => Kind::Html,
        (Some(e), _) if e == "json" => Kind::Opaque,
        (_, true) => Kind::Opaque,
        _ => Kind::Text,
    }
}

/// The article files of `inputs`, in order: directories are expanded (recursively, sorted by
/// path, hidden entries skipped); other paths are kept as given, so that a missing file becomes
/// that article's error record rather than a silent skip.
///
/// Directories are listed as the walk reaches them, so what is held is the listings along the
/// current path, not every file of a tree of any size. Each directory is entered once and each
/// file read once, by device and inode, however many paths (symlinks, a loop back to a parent)
/// reach it.
fn expand_inputs(inputs: &[PathBuf]) -> InputPaths {
    InputPaths { pending: inputs.iter().rev().cloned().map(Pending::Given).collect(), seen: HashSet::new() }
}

/// Iterator over the article files of some inputs; see [`expand_inputs`].
#[derive(Debug)]
pub(crate) struct InputPaths {
    /// What is left to visit, the next one last.
    pending: Vec<Pending>,
    /// Device and inode of every directory entered and file yielded.
    seen: HashSet<(u64, u64)>,
}

#[derive(Debug)]
enum Pending {
    /// Named by the user: read whatever its ending.
    Given(PathBuf),
    /// Found in a directory: read only if it has an article's ending.
    Found(PathBuf),
}

impl Iterator for InputPaths {
    type Item = PathBuf;

    fn next(&mut self) -> Option<PathBuf> {
        while let Some(pending) = self.pending.pop() {
            let (path, given) = match pending {
                Pending::Given(path) => (path, true),
                Pending::Found(path) => (path, false),
            };
            // A path reached before by another way is skipped; one that cannot be looked at
            // (missing, unreadable) is yielded, to become its article's error record.
            if let Ok(meta) = fs::metadata(&path)
                && !self.seen.insert((meta.dev(), meta.ino()))
            {
                continue;
            }
            if path.is_dir() {
                match sorted_entries(&path) {
                    Ok(entries) => self.pending.extend(entries.into_iter().rev().map(Pending::Found)),
                    // Unreadable directory: yield it so the reader reports it as an error.
                    Err(_) => return Some(path),
                }
            } else if given || is_article_file(&path) {
                return Some(path);
            }
        }
        None
    }
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    paths.sort();
    Ok(paths)
}

pub(crate) fn is_article_file(path: &Path) -> bool {
    extension(path).0.is_some_and(|e| ARTICLE_EXTENSIONS.contains(&e.as_str()))
}

/// Stop a run whose inputs cannot hold an article, before anything is paid for: a path that
/// does not exist, or a directory in which no article file is found. Walks a directory only
/// until its first article. Blocking.
pub(crate) fn check_inputs(inputs: &[PathBuf]) -> Result<(), String> {
    for input in inputs.iter().filter(|p| *p != Path::new("-")) {
        match fs::metadata(input) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{} does not exist; check the path", input.display()));
            }
            Err(e) => return Err(format!("cannot read {}: {e}", input.display())),
            Ok(meta) if meta.is_dir() && expand_inputs(std::slice::from_ref(input)).next().is_none() => {
                return Err(format!(
                    "{} holds no articles: ko2en reads {} files in it, recursively",
                    input.display(),
                    ARTICLE_EXTENSIONS.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// How many articles the inputs hold, for progress: one per file, one per non-empty JSONL
/// line. None when stdin or a JSONL batch that is not a regular file (a named pipe, a
/// `<(zcat …)`) is among them: those can be read only once, and the reader must get them
/// whole. Streams through the files, so it costs a quick read but no memory.
pub(crate) fn count_articles(inputs: &[PathBuf], only_with: Option<&str>) -> Option<u64> {
    let mut total = 0u64;
    for path in expand_inputs(inputs) {
        if path == Path::new("-") {
            return None;
        }
        match kind_of(&path) {
            Kind::Opaque => return None,
            Kind::Jsonl => {}
            Kind::Text | Kind::Html if only_with.is_none() => {
                total += 1;
                continue;
            }
            Kind::Text | Kind::Html => continue, // no field to carry
        }
        match fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => return None,
            Ok(_) => {}
            Err(_) => {
                total += 1; // reported as one error record
                continue;
            }
        }
        let Ok(file) = fs::File::open(&path) else {
            total += 1;
            continue;
        };
        total += BufReader::new(file)
            .split(b'\n')
            .map_while(Result::ok)
            .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
            .filter(|line| only_with.is_none_or(|field| contains(line, field.as_bytes())))
            .count() as u64;
    }
    Some(total)
}

/// Whether `needle` occurs in `line` (a quick count: a line mentioning the field counts).
fn contains(line: &[u8], needle: &[u8]) -> bool {
    line.windows(needle.len()).any(|w| w == needle)
}

/// Start the reader thread. At most `capacity` articles wait in the channel, which bounds
/// memory whatever the batch size.
pub(crate) fn spawn_reader(
    inputs: Vec<PathBuf>,
    capacity: usize,
    settings: ReadSettings,
) -> mpsc::Receiver<Loaded> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    std::thread::Builder::new()
        .name("ko2en-reader".into())
        // HTML extraction recurses over the DOM: room for pages nested as deep as `html`
        // allows, and then some.
        .stack_size(32 << 20)
        .spawn(move || {
            let mut reader = Reader { tx, settings };
            for path in expand_inputs(&inputs) {
                if !reader.read_path(&path) {
                    break; // the receiver is gone: the run is over
                }
            }
        })
        .expect("spawning the reader thread");
    rx
}

struct Reader {
    tx: mpsc::Sender<Loaded>,
    settings: ReadSettings,
}

impl Reader {
    /// Send one item; false when nobody listens any more. An article without the field the
    /// run reads only is passed over (an unreadable one is still reported).
    fn send(&mut self, id: String, source: SourceRef, article: Result<Article, InputError>) -> bool {
        if let (Some(field), Ok(article)) = (self.settings.only_with, &article)
            && !article.meta.contains_key(field)
        {
            return true;
        }
        let loaded = Loaded { id, source, article };
        self.tx.blocking_send(loaded).is_ok()
    }

    fn read_path(&mut self, path: &Path) -> bool {
        let is_stdin = path == Path::new("-");
        let stem = if is_stdin { "stdin".to_string() } else { file_stem(path) };
        let source = SourceRef { path: path.to_path_buf(), line: None };
        let display = source.to_string();
        let stream = match open(path) {
            Ok(stream) => stream,
            Err(e) => return self.send(stem, source, Err(io_error(&display, &e))),
        };
        let kind = kind_of(path);
        // Pages are pages; anything else is told by its content.
        let (shape, head, rest) = if kind == Kind::Html {
            (Shape::Text, std::io::Cursor::new(Vec::new()), stream)
        } else {
            match json::sniff(stream) {
                Ok(sniffed) => sniffed,
                Err(e) => return self.send(stem, source, Err(io_error(&display, &e))),
            }
        };
        let mut whole = head.chain(rest);
        match shape {
            Shape::Lines => return self.read_jsonl(BufReader::new(whole), path, &stem),
            Shape::Array => return self.read_array(whole, path, &stem),
            Shape::MaybeObject | Shape::Text => {}
        }
        let mut bytes = Vec::new();
        let text = match whole
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&display, &e))
            .and_then(|_| decode(&display, bytes, self.settings))
        {
            Ok(text) => text,
            Err(e) => return self.send(stem, source, Err(e)),
        };
        if let Shape::MaybeObject = shape
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let article = json::article_from(value, &source, &stem);
            let id = article.as_ref().map(|a| a.id.clone()).unwrap_or(stem);
            return self.send(id, source, article);
        }
        let article = if kind == Kind::Html {
            super::html::extract(&text)
                .map(|page| Article {
                    id: stem.clone(),
                    source: source.clone(),
                    title: page.title,
                    text: page.text,
                    meta: Default::default(),
                })
                .map_err(|e| InputError::Html { location: display, message: e.to_string() })
        } else {
            Ok(Article {
                id: stem.clone(),
                source: source.clone(),
                title: None,
                text,
                meta: Default::default(),
            })
        };
        self.send(stem, source, article)
    }

    /// The articles of a JSON array, element by element; item N is reported as `path:N`.
    fn read_array(&mut self, reader: impl Read, path: &Path, stem: &str) -> bool {
        let mut listening = true;
        let result = json::each_element(reader, |n, value| {
            let source = SourceRef { path: path.to_path_buf(), line: Some(n) };
            let fallback_id = format!("{stem}:{n}");
            let article = json::article_from(value, &source, &fallback_id);
            let id = article.as_ref().map(|a| a.id.clone()).unwrap_or(fallback_id);
            listening = self.send(id, source, article);
            listening
        });
        match result {
            Ok(()) => listening,
            Err((after, message)) => {
                let source = SourceRef { path: path.to_path_buf(), line: Some(after + 1) };
                let error = InputError::BadJsonLine { location: source.to_string(), message };
                self.send(format!("{stem}:{}", after + 1), source, Err(error))
            }
        }
    }

    fn read_jsonl(&mut self, reader: impl BufRead, path: &Path, stem: &str) -> bool {
        for (n, line) in reader.split(b'\n').enumerate() {
            let line_no = n + 1;
            let source = SourceRef { path: path.to_path_buf(), line: Some(line_no) };
            let fallback_id = format!("{stem}:{line_no}");
            let article = match line {
                Err(e) => {
                    let item = Err(io_error(&source.to_string(), &e));
                    // A read error mid-file ends that file; report it once.
                    return self.send(fallback_id, source, item);
                }
                Ok(bytes) => {
                    let display = source.to_string();
                    match decode(&display, bytes, self.settings) {
                        Ok(text) if text.trim().is_empty() => continue,
                        Ok(text) => json::parse_line(&text, &source, &fallback_id),
                        Err(e) => Err(e),
                    }
                }
            };
            let id = article.as_ref().map(|a| a.id.clone()).unwrap_or(fallback_id);
            if !self.send(id, source, article) {
                return false;
            }
        }
        true
    }
}

/// A path as a stream of bytes: stdin, or a file, gunzipped when it starts with gzip's magic
/// number (whatever its name), decompressed as it is read.
fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut stream: Box<dyn BufRead + Send> = if path == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(fs::File::open(path)?))
    };
    if stream.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        stream = Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(stream)));
    }
    Ok(stream)
}

fn io_error(display: &str, e: &std::io::Error) -> InputError {
    let message = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    InputError::Io { path: display.to_string(), message }
}

/// A file's name without its ending (and without `.gz` before that): `batch.jsonl.gz` is `batch`.
fn file_stem(path: &Path) -> String {
    let stem = |p: &Path| p.file_stem().and_then(|s| s.to_str()).unwrap_or("article").to_string();
    match extension(path) {
        (_, true) => stem(Path::new(&stem(path))),
        _ => stem(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(inputs: Vec<PathBuf>) -> Vec<Loaded> {
        let mut rx = spawn_reader(inputs, 2, ReadSettings::default());
        let mut out = Vec::new();
        while let Some(item) = rx.blocking_recv() {
            out.push(item);
        }
        out
    }

    #[test]
    fn a_directory_is_walked_recursively_in_sorted_order_skipping_other_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("b.txt"), "제목\n본문입니다.").unwrap();
        fs::write(dir.path().join("a.md"), "제목\n본문입니다.").unwrap();
        fs::write(dir.path().join("sub/c.txt"), "제목\n본문입니다.").unwrap();
        fs::write(dir.path().join("notes.csv"), "x").unwrap();
        fs::write(dir.path().join(".hidden.txt"), "x").unwrap();
        let ids: Vec<String> = read_all(vec![dir.path().into()]).into_iter().map(|l| l.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn nested_directories_interleave_in_path_order_and_given_paths_are_kept_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["a", "c/d"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        for file in ["a/x.txt", "b.txt", "c/d/e.HTML", "c/z.csv", "c/y.ndjson", "notes.csv"] {
            fs::write(root.join(file), "x").unwrap();
        }
        let given = vec![root.join("notes.csv"), root.to_path_buf(), root.join("missing.txt")];
        let found: Vec<PathBuf> = expand_inputs(&given).collect();
        let expected: Vec<PathBuf> =
            ["notes.csv", "a/x.txt", "b.txt", "c/d/e.HTML", "c/y.ndjson", "missing.txt"]
                .iter()
                .map(|f| root.join(f))
                .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn jsonl_lines_carry_id_title_text_and_the_rest_as_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.jsonl");
        fs::write(
            &path,
            "{\"id\":\"a1\",\"title\":\"제목\",\"text\":\"본문\",\"url\":\"http://x\"}\n\n{\"id\":7,\"text\":\"둘\"}\nnot json\n{\"id\":\"z\"}\n",
        )
        .unwrap();
        let items = read_all(vec![path]);
        assert_eq!(items.len(), 4, "the blank line is skipped, the bad ones reported");
        let first = items[0].article.as_ref().unwrap();
        assert_eq!((first.id.as_str(), first.title.as_deref()), ("a1", Some("제목")));
        assert_eq!(first.meta["url"], "http://x");
        assert_eq!(first.source.to_string(), format!("{}:1", dir.path().join("batch.jsonl").display()));
        assert_eq!(items[1].article.as_ref().unwrap().id, "7");
        assert_eq!(items[1].source.line, Some(3));
        assert!(matches!(items[2].article, Err(InputError::BadJsonLine { .. })));
        assert_eq!(items[2].id, "batch:4");
        let err = items[3].article.as_ref().unwrap_err().to_string();
        assert!(err.contains("\"text\" is missing"), "{err}");
    }

    #[test]
    fn binary_invalid_utf8_and_missing_files_are_per_article_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bin.txt"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
        fs::write(dir.path().join("latin1.txt"), b"caf\xe9 au lait").unwrap();
        let items = read_all(vec![
            dir.path().join("bin.txt"),
            dir.path().join("latin1.txt"),
            dir.path().join("missing.txt"),
        ]);
        assert!(matches!(items[0].article, Err(InputError::Binary { .. })));
        assert!(matches!(items[1].article, Err(InputError::NotText { offset: 3, .. })));
        let missing = items[2].article.as_ref().unwrap_err().to_string();
        assert!(missing.contains("no such file"), "{missing}");
    }

    #[test]
    fn articles_are_counted_without_reading_them_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), "x").unwrap();
        fs::write(dir.path().join("b.jsonl"), "{}\n\n{}\n{}").unwrap();
        assert_eq!(count_articles(&[dir.path().into()], None), Some(4));
        assert_eq!(count_articles(&["-".into()], None), None);
    }
}
