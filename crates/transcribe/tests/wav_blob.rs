//! WAV tracks as the media engine writes them (including after a crash), and the local
//! blob store.

use std::fs::File;

use denwa_media::WavWriter;
use denwa_transcribe::wav::WavReader;
use denwa_transcribe::{Audio, BlobStore, Error, LocalBlobStore};

fn ramp(n: usize) -> Vec<i16> {
    (0..n).map(|i| (i % 2000) as i16 - 1000).collect()
}

fn read_all(path: &std::path::Path) -> (u32, Vec<i16>) {
    let mut r = WavReader::open(path).expect("open");
    let mut out = Vec::new();
    let mut block = [0i16; 777];
    loop {
        let n = r.read_samples(&mut block).expect("read");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&block[..n]);
    }
    (r.sample_rate(), out)
}

#[test]
fn reads_a_finished_track_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("leg.wav");
    let samples = ramp(40_000);
    let mut w = WavWriter::new(File::create(&path).expect("create"), 16_000).expect("writer");
    w.write_samples(&samples).expect("write");
    w.finish().expect("finish");
    assert_eq!(read_all(&path), (16_000, samples));
}

#[test]
fn recovers_the_samples_after_the_last_header_update_of_a_crashed_track() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("crashed.wav");
    let samples = ramp(24_000); // 1.5 s: the header was last rewritten at 1 s
    let mut w = WavWriter::new(File::create(&path).expect("create"), 16_000).expect("writer");
    for frame in samples.chunks(320) {
        w.write_samples(frame).expect("write");
    }
    drop(w); // the process dies: no finish()
    let bytes = std::fs::read(&path).expect("read");
    let declared = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
    assert_eq!(declared, 32_000, "the header covers one second");
    assert_eq!(read_all(&path).1, samples, "all 1.5 s come back");
}

#[test]
fn a_chunk_after_the_data_is_not_read_as_samples() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("list.wav");
    let samples = ramp(1000);
    let mut w = WavWriter::new(File::create(&path).expect("create"), 8_000).expect("writer");
    w.write_samples(&samples).expect("write");
    let mut f = w.finish().expect("finish");
    use std::io::Write;
    f.write_all(b"LIST\x04\x00\x00\x00INFO").expect("list");
    drop(f);
    assert_eq!(read_all(&path), (8_000, samples));
    // 8 kHz is resampled to 16 kHz for the transcriber.
    let audio = Audio::read_wav(&path).expect("audio");
    assert_eq!(audio.samples().len(), 2000);
}

#[test]
fn garbage_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("x.wav");
    std::fs::write(&path, b"ID3\x03not a wav at all").expect("write");
    assert!(matches!(WavReader::open(&path), Err(Error::Wav(_))));
    std::fs::write(
        &path,
        b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00",
    )
    .expect("write");
    assert!(matches!(WavReader::open(&path), Err(Error::Wav(_))));
    // 24-bit PCM is refused by name.
    let mut h = b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x03\x00\x18\x00data\x00\x00\x00\x00".to_vec();
    h.extend_from_slice(&[0; 30]);
    std::fs::write(&path, &h).expect("write");
    let err = WavReader::open(&path).expect_err("24-bit");
    assert!(err.to_string().contains("24 bits"), "{err}");
    assert!(matches!(
        WavReader::open(&dir.path().join("missing.wav")),
        Err(Error::File { .. })
    ));
}

#[test]
fn blob_store_round_trip_ranges_list_delete() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = LocalBlobStore::new(dir.path().join("blobs")).expect("store");
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store.put("calls/4/mixed.mp3", &data).expect("put");
    store.put("calls/4/customer.wav", b"abc").expect("put");
    store.put("calls/42/mixed.mp3", b"other call").expect("put");
    // Replacing is atomic and leaves no temporary file behind.
    store.put("calls/4/customer.wav", b"abcd").expect("replace");

    assert_eq!(store.get("calls/4/mixed.mp3").expect("get"), data);
    assert_eq!(
        store
            .get_range("calls/4/mixed.mp3", 100..110)
            .expect("range"),
        &data[100..110]
    );
    assert_eq!(
        store
            .get_range("calls/4/mixed.mp3", 9_990..20_000)
            .expect("clamped"),
        &data[9_990..]
    );
    assert_eq!(
        store
            .get_range("calls/4/mixed.mp3", 10_000..10_000)
            .expect("empty"),
        b""
    );
    assert!(matches!(
        store.get_range("calls/4/mixed.mp3", 10_001..10_002),
        Err(Error::Range { size: 10_000, .. })
    ));
    assert_eq!(store.head("calls/4/customer.wav").expect("head").size, 4);

    let keys = |prefix: &str| -> Vec<String> {
        store
            .list(prefix)
            .expect("list")
            .into_iter()
            .map(|m| m.key)
            .collect()
    };
    assert_eq!(
        keys("calls/4"),
        ["calls/4/customer.wav", "calls/4/mixed.mp3"]
    );
    assert_eq!(keys("calls/4/"), keys("calls/4"));
    assert_eq!(keys("").len(), 3);
    assert!(keys("calls/5").is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("blobs/calls/4"))
        .expect("dir")
        .collect();
    assert_eq!(files.len(), 2, "no temporary files left");

    let src = dir.path().join("src.bin");
    std::fs::write(&src, &data[..5000]).expect("src");
    assert_eq!(
        store.put_file("calls/5/mixed.mp3", &src).expect("put_file"),
        5000
    );
    assert_eq!(store.get("calls/5/mixed.mp3").expect("get"), &data[..5000]);

    store.delete("calls/4/mixed.mp3").expect("delete");
    store.delete("calls/4/mixed.mp3").expect("delete twice");
    assert!(matches!(
        store.get("calls/4/mixed.mp3"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.get("../etc/passwd"),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(store.put("/abs", b""), Err(Error::InvalidKey(_))));
}
