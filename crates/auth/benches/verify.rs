//! Cost of checking a playback signature: every playlist, part and segment request of a signed
//! URL pays one of these.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use onair_auth::{alibaba, signed_url};

fn bench(c: &mut Criterion) {
    let keys = signed_url::SigningKeys::new(&[7u8; 32], Some(&[9u8; 32])).unwrap();
    let grant = signed_url::Grant {
        scope: "/live/channel-name/".into(),
        expires: 2_000_000_000,
        user_id: "01jdzq4w8x2v3m5k7n9p0r1s2t".into(),
        client_ip: Some("192.0.2.7".parse().unwrap()),
    };
    let token = signed_url::sign(&keys, &grant).unwrap();
    let ip = "192.0.2.7".parse().unwrap();
    let path = "/live/channel-name/01jdzq4w/part/1234.m4s";
    c.bench_function("signed_url::verify", |b| {
        b.iter(|| signed_url::verify(&keys, black_box(&token), black_box(path), 1_900_000_000, ip))
    });
    c.bench_function("signed_url::sign", |b| {
        b.iter(|| signed_url::sign(&keys, black_box(&grant)))
    });
    let key = b"alibaba-type-a-private-key";
    let auth_key = alibaba::sign(
        path,
        1_900_000_000,
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "0",
        key,
    )
    .unwrap();
    c.bench_function("alibaba::verify", |b| {
        b.iter(|| {
            alibaba::verify(
                black_box(path),
                black_box(&auth_key),
                1_900_000_100,
                1800,
                &[key],
            )
        })
    });
    c.bench_function("alibaba::sign", |b| {
        b.iter(|| {
            alibaba::sign(
                black_box(path),
                1_900_000_000,
                "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "0",
                key,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
