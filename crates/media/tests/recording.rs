//! Recording tracks: the WAV writer's crash safety, read back by an independent reader.

mod common;

use std::io::Cursor;

use common::{PRESENT, Sim, goertzel};
use denwa_media::{Role, WavWriter};

#[test]
fn finished_track_has_exact_sizes() {
    let mut writer = WavWriter::new(Cursor::new(Vec::new()), 16000).unwrap();
    let frame: Vec<i16> = (0..320).map(|i| (i * 50) as i16).collect();
    for _ in 0..130 {
        writer.write_samples(&frame).unwrap(); // 2.6 s: not a whole number of seconds
    }
    let bytes = writer.finish().unwrap().into_inner();
    assert_eq!(bytes.len(), 44 + 130 * 640);
    let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    assert_eq!(reader.spec().sample_rate, 16000);
    assert_eq!(reader.spec().channels, 1);
    assert_eq!(reader.len(), 130 * 320);
}

#[test]
fn unfinished_track_reads_whole_seconds() {
    // A writer over a buffer we can inspect without calling finish().
    let mut buf = Vec::new();
    {
        let mut writer = WavWriter::new(Cursor::new(&mut buf), 8000).unwrap();
        for _ in 0..60 {
            // 60 frames of 160 samples = 1.2 s at 8 kHz
            writer.write_samples(&[100i16; 160]).unwrap();
        }
        // Dropped without finish(): as if the process died here.
    }
    let reader = hound::WavReader::new(Cursor::new(buf)).unwrap();
    assert_eq!(
        reader.len(),
        8000,
        "the header covers the first full second"
    );
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    assert!(samples.iter().all(|&s| s == 100));
}

#[test]
fn room_tracks_written_as_wav_contain_each_participant() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    let (customer, staff) = (sim.phones[c].leg, sim.phones[a].leg);
    sim.run(1.0);
    for (leg, tone, other) in [(customer, 500.0, 700.0), (staff, 700.0, 500.0)] {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 16000).unwrap();
        w.write_samples(&sim.tracks[&leg]).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let samples: Vec<i16> = hound::WavReader::new(Cursor::new(bytes))
            .unwrap()
            .into_samples::<i16>()
            .map(Result::unwrap)
            .collect();
        let tail = &samples[samples.len() - 8000..];
        // Exact speaker attribution: each track holds only its own participant.
        assert!(goertzel(tail, 16000.0, tone) > PRESENT);
        assert!(goertzel(tail, 16000.0, other) < 30.0);
    }
}
