//! `nncert fetch`: download the canonical dataset files over HTTPS, verify their MD5
//! against the published checksums, and write them atomically.
//!
//! A file is streamed to a temporary file with an unpredictable name in the target
//! directory while its MD5 is computed; only a complete transfer with the right checksum is
//! renamed into place. Nothing is resumed: a failed or interrupted download (SIGINT,
//! SIGTERM) leaves nothing behind, not even the directories it created, and is started
//! again from the beginning next time. Mirrors are tried in order. Every transfer is
//! bounded: a connection timeout, a timeout for the reply, an overall time limit per file,
//! and a size cap at (a little above) the canonical file's size.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use md5::{Digest, Md5};
use nncert::data::canonical::{CIFAR10_ARCHIVE, CanonicalFile, MNIST};

use crate::args::FetchArgs;
use crate::choices::PaperChoice;

/// Well-known mirrors of the canonical files (base URLs; the file name is appended).
pub const MNIST_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];
/// The CIFAR-10 authors' site.
pub const CIFAR10_MIRRORS: [&str; 1] = ["https://www.cs.toronto.edu/~kriz/"];

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// File name on the mirror and on disk.
    pub file_name: String,
    /// Expected MD5 of the bytes, lowercase hex.
    pub md5: String,
    /// The most bytes accepted: a server that sends more is cut off.
    pub max_bytes: u64,
}

/// Size caps of the canonical files: MNIST's exact sizes, and a little above the CIFAR-10
/// archive's 170 MB.
fn max_bytes(file_name: &str) -> u64 {
    match file_name {
        "train-images-idx3-ubyte.gz" => 9_912_422,
        "train-labels-idx1-ubyte.gz" => 28_881,
        "t10k-images-idx3-ubyte.gz" => 1_648_877,
        "t10k-labels-idx1-ubyte.gz" => 4_542,
        _ => 200_000_000,
    }
}

impl From<&CanonicalFile> for Wanted {
    fn from(c: &CanonicalFile) -> Self {
        Wanted {
            file_name: c.file_name.to_string(),
            md5: c.gz_md5.to_string(),
            max_bytes: max_bytes(c.file_name),
        }
    }
}

/// How long a transfer may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To connect.
    pub connect: Duration,
    /// From the request to the reply's headers.
    pub reply: Duration,
    /// One file's whole download.
    pub total: Duration,
}

pub fn run(a: &FetchArgs) -> Result<()> {
    let (wanted, default_mirrors): (Vec<Wanted>, &[&str]) = match a.dataset {
        PaperChoice::Mnist => (MNIST.iter().map(Wanted::from).collect(), &MNIST_MIRRORS),
        PaperChoice::Cifar10 => (vec![Wanted::from(&CIFAR10_ARCHIVE)], &CIFAR10_MIRRORS),
    };
    let mirrors: Vec<String> = if a.mirror.is_empty() {
        default_mirrors.iter().map(|s| s.to_string()).collect()
    } else {
        a.mirror.clone()
    };
    let dir = a.data_dir.join(if a.dataset == PaperChoice::Mnist {
        "mnist"
    } else {
        ""
    });
    for (flag, v) in [
        ("--connect-timeout", a.connect_timeout),
        ("--timeout", a.timeout),
        ("--max-time", a.max_time),
    ] {
        anyhow::ensure!(
            (1..=86_400).contains(&v),
            "{flag}: expected 1..=86400 seconds, found {v}"
        );
    }
    let timeouts = Timeouts {
        connect: Duration::from_secs(a.connect_timeout),
        reply: Duration::from_secs(a.timeout),
        total: Duration::from_secs(a.max_time),
    };
    fetch_all(&wanted, &mirrors, &dir, timeouts)
}

/// Fetches every wanted file that is not already present and verified.
pub fn fetch_all(
    wanted: &[Wanted],
    mirrors: &[String],
    dir: &Path,
    timeouts: Timeouts,
) -> Result<()> {
    let created = create_dirs(dir)?;
    let result = fetch_into(wanted, mirrors, dir, timeouts);
    if result.is_err() {
        // A failed fetch leaves no empty directories behind.
        for d in created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

/// Creates `dir` and its missing ancestors; returns those created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut p = dir.to_path_buf();
    while !p.as_os_str().is_empty() && std::fs::symlink_metadata(&p).is_err() {
        missing.push(p.clone());
        match p.parent() {
            Some(q) => p = q.to_path_buf(),
            None => break,
        }
    }
    missing.reverse();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    Ok(missing)
}

fn fetch_into(wanted: &[Wanted], mirrors: &[String], dir: &Path, timeouts: Timeouts) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(timeouts.connect))
        .timeout_recv_response(Some(timeouts.reply))
        .timeout_global(Some(timeouts.total))
        .http_status_as_error(false)
        .user_agent(concat!("nncert/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    for w in wanted {
        let target = dir.join(&w.file_name);
        if target.is_file() {
            let have = md5_file(&target)?;
            if have == w.md5 {
                say!("{}: present, MD5 verified", target.display());
                continue;
            }
            say!(
                "{}: present but MD5 {have} differs from the canonical {}; downloading again",
                target.display(),
                w.md5
            );
        }
        let mut failures = Vec::new();
        let mut done = false;
        for mirror in mirrors {
            let url = format!("{}/{}", mirror.trim_end_matches('/'), w.file_name);
            match download(&agent, &url, &target, w) {
                Ok(bytes) => {
                    say!(
                        "{}: {bytes} bytes from {url}, MD5 verified",
                        target.display()
                    );
                    done = true;
                    break;
                }
                Err(e) => failures.push(format!("{url}: {e:#}")),
            }
        }
        if !done {
            let manual: Vec<String> = wanted
                .iter()
                .map(|w| format!("{} (MD5 {})", w.file_name, w.md5))
                .collect();
            bail!(
                "could not download {} from any mirror ({}); without network access, place {} in {} by hand",
                w.file_name,
                failures.join("; "),
                manual.join(", "),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Downloads `url` to `target` through a temporary file; returns the byte count.
fn download(agent: &ureq::Agent, url: &str, target: &Path, w: &Wanted) -> Result<u64> {
    let (md5, max) = (w.md5.as_str(), w.max_bytes);
    let mut response = agent.get(url).call().map_err(|e| anyhow!("{e}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("HTTP status {status}");
    }
    if let Some(len) = response.body().content_length().filter(|&l| l > max) {
        bail!("the server announces {len} bytes, expected at most {max}");
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    // Exclusive, unpredictable name; removed on every error (drop) and on SIGINT/SIGTERM.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            target.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    let _pending = nncert::report::PendingPath::new(temp.path());
    let result = (|| -> Result<u64> {
        let file = temp.as_file_mut();
        let mut reader = response.body_mut().as_reader();
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            // A transfer cut short of its Content-Length is an error here, not an EOF.
            let n = reader
                .read(&mut buf)
                .map_err(|e| anyhow!("transfer failed after {total} bytes: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max {
                bail!("the server sent more than {max} bytes, the size of the canonical file");
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .with_context(|| format!("{}: cannot write", target.display()))?;
        }
        file.sync_all()
            .with_context(|| format!("{}: cannot write", target.display()))?;
        let got = format!("{:x}", hasher.finalize());
        if got != md5 {
            bail!("checksum mismatch: expected MD5 {md5}, found {got} ({total} bytes)");
        }
        Ok(total)
    })();
    let total = result?;
    temp.persist(target)
        .map_err(|e| anyhow!("{}: cannot write: {}", target.display(), e.error))?;
    Ok(total)
}

fn md5_file(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = Md5::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(format!("{:x}", h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    /// A tiny HTTP/1.1 server on 127.0.0.1 for `requests` connections: `/good` serves
    /// `body`, `/bad` a corrupted copy, `/short` announces more bytes than it sends,
    /// anything else is 404.
    fn serve(body: Vec<u8>, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, payload, announced) = if path.starts_with("/good/") {
                    ("200 OK", body.clone(), body.len())
                } else if path.starts_with("/bad/") {
                    let mut b = body.clone();
                    b[0] ^= 0xff;
                    ("200 OK", b, body.len())
                } else if path.starts_with("/short/") {
                    ("200 OK", body[..body.len() / 2].to_vec(), body.len())
                } else {
                    ("404 Not Found", b"not found".to_vec(), 9)
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&payload);
            }
        });
        format!("http://{addr}")
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nncert-fetch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn wanted(body: &[u8]) -> Vec<Wanted> {
        vec![Wanted {
            file_name: "file.gz".into(),
            md5: format!("{:x}", Md5::digest(body)),
            max_bytes: body.len() as u64,
        }]
    }

    fn timeouts(seconds: u64) -> Timeouts {
        let d = Duration::from_secs(seconds);
        Timeouts {
            connect: d,
            reply: d,
            total: d * 4,
        }
    }

    /// Issue 12 (9): a server that accepts and never replies hung fetch forever; one that
    /// never stops sending filled a `.part` file without bound; a failed fetch left empty
    /// directories.
    #[test]
    fn silent_and_endless_servers_are_cut_off_and_nothing_is_left() {
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let endless = TcpListener::bind("127.0.0.1:0").unwrap();
        let endless_addr = endless.local_addr().unwrap();
        // Holds the silent connection open without a word until the test ends.
        std::thread::spawn(move || {
            let held: Vec<_> = silent.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(held);
        });
        // Sends headers without a length, then data until the client goes away.
        std::thread::spawn(move || {
            if let Some(Ok(mut s)) = endless.incoming().next() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let chunk = vec![7u8; 1 << 16];
                for _ in 0..10_000 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let root = scratch("bounded");
        let dir = root.join("a/b");
        let t = Timeouts {
            connect: Duration::from_secs(5),
            reply: Duration::from_secs(1),
            total: Duration::from_secs(20),
        };
        let e = fetch_all(&wanted(b"x"), &[format!("http://{silent_addr}")], &dir, t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("could not download"), "{e}");
        assert!(!root.exists(), "no directory is left behind");
        let body = vec![7u8; 100_000];
        let e = fetch_all(&wanted(&body), &[format!("http://{endless_addr}")], &dir, t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 100000 bytes"), "{e}");
        assert!(!root.exists(), "no .part file or directory is left behind");
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|r| {
                r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn good_file_is_verified_and_written_then_skipped() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let base = serve(body.clone(), 4);
        let dir = scratch("good");
        let t = timeouts(5);
        fetch_all(&wanted(&body), &[format!("{base}/good")], &dir, t).unwrap();
        assert_eq!(std::fs::read(dir.join("file.gz")).unwrap(), body);
        // Present and verified: no second download (the server would 404 on /missing).
        fetch_all(&wanted(&body), &[format!("{base}/missing")], &dir, t).unwrap();
        assert_eq!(leftovers(&dir), vec!["file.gz".to_string()]);
    }

    #[test]
    fn corrupt_truncated_and_missing_files_leave_nothing_behind() {
        let body: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let base = serve(body.clone(), 8);
        let t = timeouts(5);
        for (route, needle) in [
            ("bad", "checksum mismatch: expected MD5"),
            ("short", "transfer failed after"),
            ("nope", "HTTP status 404"),
        ] {
            let dir = scratch(route);
            let e = fetch_all(&wanted(&body), &[format!("{base}/{route}")], &dir, t)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{route}: {e}");
            assert!(e.contains("place file.gz (MD5"), "{route}: {e}");
            assert!(leftovers(&dir).is_empty(), "{route}: {:?}", leftovers(&dir));
        }
        // A bad mirror first, then a good one: the good one is used.
        let dir = scratch("fallback");
        fetch_all(
            &wanted(&body),
            &[format!("{base}/bad"), format!("{base}/good")],
            &dir,
            t,
        )
        .unwrap();
        assert_eq!(std::fs::read(dir.join("file.gz")).unwrap(), body);
    }

    #[test]
    fn no_network_fails_fast_with_instructions() {
        // Nothing listens on this port: the connection is refused at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = scratch("offline");
        let start = std::time::Instant::now();
        let e = fetch_all(
            &wanted(b"x"),
            &[format!("http://127.0.0.1:{port}")],
            &dir,
            timeouts(5),
        )
        .unwrap_err()
        .to_string();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            e.contains("could not download file.gz from any mirror"),
            "{e}"
        );
        assert!(e.contains("by hand"), "{e}");
    }
}
