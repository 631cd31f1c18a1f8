//! HOG over whole datasets: all 70,000 MNIST images and all 60,000 CIFAR-10 images, on
//! rayon's default thread count. Data from `NNCERT_DATA_DIR`;
//! without it, the embedded MNIST subset only.
//!
//! Run: `cargo bench -p nncert --bench hog`

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use nncert::data::{Dataset, DatasetSpec, load};
use nncert::features::{FeatureKind, HogParams, extract};

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("NNCERT_DATA_DIR")?);
    dir.join("mnist").is_dir().then_some(dir)
}

fn all_images(d: &Dataset) {
    let kind = FeatureKind::Hog(HogParams::default());
    std::hint::black_box(extract(d, &d.train, kind).unwrap());
    std::hint::black_box(extract(d, &d.test, kind).unwrap());
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hog");
    group.sample_size(10);
    let mut datasets = vec![("mnist-embedded-7k", load(&DatasetSpec::Embedded).unwrap())];
    if let Some(dir) = data_dir() {
        datasets.push(("mnist-70k", load(&DatasetSpec::Mnist(dir.clone())).unwrap()));
        datasets.push(("cifar10-60k", load(&DatasetSpec::Cifar10(dir)).unwrap()));
    }
    for (name, d) in &datasets {
        group.bench_function(*name, |b| b.iter(|| all_images(d)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
