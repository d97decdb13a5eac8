//! Compressed copies of the built site's WASM, scripts and styles: `.br` and `.gz` beside
//! each file of `pkg/`, which the static handler serves to browsers that accept them.
//! They are made at start when missing or older than the file they compress, so a new
//! build never meets a stale copy.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

const COMPRESSIBLE: &[&str] = &["wasm", "js", "css"];

type Compressor = fn(&[u8]) -> io::Result<Vec<u8>>;

/// Brings the compressed copies of `dir`'s files up to date; answers how many it wrote.
/// A folder that does not exist (no site built) has nothing to compress.
pub fn precompress(dir: &Path) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut written = 0;
    for entry in entries {
        let path = entry?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let modified = fs::metadata(&path)?.modified()?;
        let encodings: [(&str, Compressor); 2] = [("br", brotli), ("gz", gzip)];
        for (suffix, compress) in encodings {
            let target = path.with_extension(format!("{ext}.{suffix}"));
            let fresh = fs::metadata(&target)
                .and_then(|m| m.modified())
                .is_ok_and(|at| at >= modified);
            if fresh {
                continue;
            }
            let packed = compress(&fs::read(&path)?)?;
            // Whole or not at all: another process may be serving this folder.
            let partial = target.with_extension(format!("{ext}.{suffix}.{}", std::process::id()));
            fs::write(&partial, packed)?;
            fs::rename(&partial, &target)?;
            written += 1;
        }
    }
    Ok(written)
}

fn brotli(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        size_hint: data.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
    Ok(out)
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn copies_decompress_to_the_file_and_are_remade_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("site.wasm");
        fs::write(&wasm, b"\0asm".repeat(1000)).unwrap();
        fs::write(dir.path().join("notes.txt"), "not compressed").unwrap();
        assert_eq!(precompress(dir.path()).unwrap(), 2);
        assert!(!dir.path().join("notes.txt.br").exists());

        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&fs::read(dir.path().join("site.wasm.gz")).unwrap()[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, fs::read(&wasm).unwrap());
        let mut unpacked = Vec::new();
        brotli::BrotliDecompress(
            &mut &fs::read(dir.path().join("site.wasm.br")).unwrap()[..],
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, fs::read(&wasm).unwrap());

        assert_eq!(precompress(dir.path()).unwrap(), 0, "up to date");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&wasm, b"new build").unwrap();
        assert_eq!(
            precompress(dir.path()).unwrap(),
            2,
            "a new build is compressed anew"
        );
        let mut unpacked = Vec::new();
        brotli::BrotliDecompress(
            &mut &fs::read(dir.path().join("site.wasm.br")).unwrap()[..],
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, b"new build");
        assert_eq!(precompress(&dir.path().join("missing")).unwrap(), 0);
    }
}
