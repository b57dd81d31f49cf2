//! The README's quickstart: open (or create) a database in a directory, upsert a few
//! vectors with metadata, commit, search, filter. Running it twice on the same directory
//! works: the second run opens what the first committed.
//!
//! Run: `cargo run --example quickstart -- /tmp/quickstart-db`

use stratovec::{Db, Filter, Include, Metric, Record, SearchOptions, SearchParams, WriteBatch};

fn main() -> stratovec::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "quickstart-db".into());
    pollster::block_on(run(&dir))
}

async fn run(dir: &str) -> stratovec::Result<()> {
    // A path, file:///path, memory://, s3://bucket/prefix?endpoint=… (feature opendal).
    let db = Db::builder_uri(dir).open_or_create(3, Metric::Cosine).await?;
    println!("opened {dir}: {} live rows at version {}", db.stats().live_rows, db.stats().version);

    let mut batch = WriteBatch::new();
    batch
        .upsert(Record::new(1, vec![0.1, 0.2, 0.3]).with("genre", "rock").with("year", 1994))
        .upsert(Record::new(2, vec![0.3, 0.1, 0.0]).with("genre", "jazz").with("year", 1959))
        .upsert(Record::new(3, vec![0.0, 0.9, 0.1]).with("genre", "rock").with("year", 2004).with_payload(b"any bytes".to_vec()));
    db.write(&batch)?; // all or nothing; upserts, so a second run replaces the same keys
    db.commit().await?; // durable now

    for hit in db.search(&[0.1, 0.2, 0.25], 2, &SearchParams::with_ef(64))? {
        println!("key {} at distance {:.4}", hit.id, hit.distance); // smaller is closer
    }
    let opts = SearchOptions {
        k: 5,
        filter: Some(Filter::parse("genre = 'rock' AND year >= 1990")?),
        include: Include::ALL,
        ..Default::default()
    };
    let (hits, _explain) = db.search_with(&[0.1, 0.2, 0.25], &opts)?;
    for h in &hits {
        println!("rock since 1990: key {} {:?}", h.record.id, h.record.metadata);
    }
    assert_eq!(db.stats().live_rows, 3, "upserts keep three keys however often this runs");
    Ok(())
}
