//! Benchmarks of the protocol core (targets from issue 3):
//! seal+open of one media packet (≤ 2 µs), the full handshake on both
//! sides including hybrid signatures (≤ 3 ms), and the replay-window check.
//!
//! Run: `cargo bench -p pqvoice-proto --bench proto`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use proto::handshake::{
    Answer, Candidate, CandidateKind, ExpectAnswer, HandshakeCallId, MediaProfile, Offer,
    OfferParams, OfferPolicy,
};
use proto::identity::IdentityKeyPair;
use proto::packet::{MediaFrame, MediaPayload};
use proto::replay::ReplayWindow;
use proto::session::{CallSession, Incoming, SessionConfig};
use proto::time::{Instant, UnixTime};

const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

fn params() -> OfferParams {
    OfferParams {
        call_id: HandshakeCallId([7; 16]),
        caller: "alice".into(),
        callee: "bob".into(),
        candidates: vec![Candidate::new(
            CandidateKind::Host,
            "127.0.0.1:40000".parse().expect("literal"),
            u16::MAX,
        )],
        profile: MediaProfile::DEFAULT,
    }
}

/// Both sides of a handshake through the byte encodings, as in a real call.
fn full_handshake(
    a: &IdentityKeyPair,
    b: &IdentityKeyPair,
    seed: u8,
) -> (proto::handshake::Established, proto::handshake::Established) {
    let (waiting, offer) = ExpectAnswer::start(
        a,
        params(),
        b.public().clone(),
        [seed; 32],
        [seed ^ 0x33; 32],
        NOW,
    )
    .expect("start");
    let offer = Offer::from_bytes(&offer.to_bytes()).expect("offer parses");
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("verify");
    let (answer, callee) = verified
        .accept(b, vec![], [seed ^ 0x55; 32], NOW)
        .expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("answer parses");
    let caller = waiting
        .handle_answer(&answer, NOW, &Default::default())
        .expect("answer");
    (caller, callee)
}

fn bench_handshake(c: &mut Criterion) {
    let a = IdentityKeyPair::from_seed(&[1; 32]);
    let b = IdentityKeyPair::from_seed(&[2; 32]);
    let mut seed = 0u8;
    c.bench_function("handshake/full_both_sides", |bench| {
        bench.iter(|| {
            seed = seed.wrapping_add(1);
            black_box(full_handshake(&a, &b, seed))
        })
    });
    c.bench_function("identity/sign", |bench| {
        bench.iter(|| black_box(a.sign(b"pqvoice/bench/v1", b"message")))
    });
    let sig = a.sign(b"pqvoice/bench/v1", b"message");
    c.bench_function("identity/verify", |bench| {
        bench.iter(|| {
            a.public()
                .verify(b"pqvoice/bench/v1", b"message", black_box(&sig))
                .expect("valid")
        })
    });
}

fn bench_packets(c: &mut Criterion) {
    let a = IdentityKeyPair::from_seed(&[1; 32]);
    let b = IdentityKeyPair::from_seed(&[2; 32]);
    let (caller, callee) = full_handshake(&a, &b, 9);
    let t = Instant::from_micros(0);
    let config = SessionConfig {
        // Keep the benchmark inside one epoch per 2^40 packets so that it
        // measures the steady state; rekeying has its own cost below.
        rekey_after_packets: 1 << 40,
        ..SessionConfig::default()
    };
    let mut tx = CallSession::new(caller, config, t);
    let mut rx = CallSession::new(callee, config, t);
    // A 20 ms Opus frame at 32 kbit/s plus one redundant copy.
    let cur = [0x5Au8; 80];
    let prev = [0xA5u8; 80];
    let frames = [
        MediaFrame { age: 0, data: &cur },
        MediaFrame {
            age: 1,
            data: &prev,
        },
    ];
    let mut buf = vec![0u8; tx.packet_len()];
    let mut ts = 0u32;
    c.bench_function("packet/seal_open_240B", |bench| {
        bench.iter(|| {
            ts = ts.wrapping_add(960);
            let payload = MediaPayload {
                timestamp: ts,
                frames: &frames,
            };
            let n = tx.send_media(t, &payload, &mut buf).expect("fits");
            match rx.handle_datagram(t, &mut buf[..n]) {
                Ok(Incoming::Media(m)) => black_box(m.timestamp),
                other => panic!("benchmark packet refused: {other:?}"),
            }
        })
    });
    c.bench_function("packet/seal_240B", |bench| {
        bench.iter(|| {
            let payload = MediaPayload {
                timestamp: 0,
                frames: &frames,
            };
            black_box(tx.send_media(t, &payload, &mut buf).expect("fits"))
        })
    });
    c.bench_function("session/rekey_send", |bench| {
        bench.iter(|| tx.rekey_send(t))
    });
}

fn bench_replay(c: &mut Criterion) {
    let mut w = ReplayWindow::new();
    let mut pn = 0u64;
    c.bench_function("replay/check_and_update_in_order", |bench| {
        bench.iter(|| {
            pn += 1;
            w.check_and_update(black_box(pn)).expect("fresh")
        })
    });
    let mut w = ReplayWindow::new();
    for i in 0..1000 {
        w.update(i);
    }
    c.bench_function("replay/check_duplicate", |bench| {
        bench.iter(|| w.check(black_box(500)).is_err())
    });
}

criterion_group!(benches, bench_packets, bench_replay, bench_handshake);
criterion_main!(benches);
