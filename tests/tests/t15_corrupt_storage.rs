//! Damaged storage on a real quorum: a stopped node's snapshot file or sled log is cut short
//! or has bytes flipped; started again, the node exits non-zero with an error naming the
//! file and never serves, while the other two keep serving. Then the documented rebuild —
//! wipe its data dir, `kraftctl quorum remove-controller --id N`, start it with `--join` —
//! brings it back as a voter holding the same image as the leader.

use std::fs;
use std::path::Path;
use std::time::Duration;

use kraft_client::Client;
use kraft_proto as pb;
use kraft_tests::brokers::Brokers;
use kraft_tests::{Cluster, wait_for_leader, wait_until};

async fn create(c: &Client, name: &str) -> bool {
    let req = pb::CreateTopicsRequest {
        topics: vec![pb::CreatableTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        validate_only: false,
    };
    matches!(c.create_topics(req).await,
        Ok(r) if r.topics[0].error.as_ref().map(|e| e.error_code).unwrap_or(0) == 0)
}

/// The bytes up to the last non-zero one: sled keeps its file written with zeros ahead of its
/// data (vendor/sled, KRAFTD-PATCH.md item 8), and damage there would change nothing.
fn data_len(b: &[u8]) -> usize {
    b.iter()
        .rposition(|x| *x != 0)
        .map_or(b.len(), |last| last + 1)
}

fn flip_middle(path: &Path) {
    let mut b = fs::read(path).expect("read");
    let len = data_len(&b);
    let mid = len / 2;
    for x in &mut b[mid..(mid + 16).min(len)] {
        *x ^= 0xa5;
    }
    fs::write(path, b).expect("write");
}

fn cut_half(path: &Path) {
    let b = fs::read(path).expect("read");
    fs::write(path, &b[..data_len(&b) / 2]).expect("write");
}

/// Starts `victim` on its damaged data dir and checks it refuses: exit non-zero, the error
/// names `file`, and it never reported serving.
fn assert_refuses(cluster: &mut Cluster, victim: u64, file: &Path, what: &str) {
    let before = cluster.log(victim).len();
    cluster.spawn(victim);
    let status = cluster
        .wait_exit(victim, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{what}: node {victim} kept running on damaged storage"));
    assert!(!status.success(), "{what}: exit status {status}");
    let log = cluster.log(victim)[before..].to_string();
    let name = file.display().to_string();
    assert!(
        log.contains(&name),
        "{what}: the error does not name {name}:\n{log}"
    );
    assert!(
        !log.contains("serving gRPC"),
        "{what}: the node served before refusing:\n{log}"
    );
    let error = log
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_default();
    eprintln!("[t15] {what}: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_storage_is_refused_and_the_node_is_rebuilt_from_its_peers() {
    // Small snapshots, so the victim has a snapshot file and a purged log.
    let mut cluster = Cluster::start_with(3, &["--snapshot-every", "20", "--snapshot-keep", "5"]);
    let b = cluster.bootstrap();
    let leader = wait_for_leader(&b).await;
    let _brokers = Brokers::start(&b, 1).await;
    let c = Client::connect(&b).await.expect("connect");
    for i in 0..40 {
        assert!(
            create(&c, &format!("before-{i}")).await,
            "create before-{i}"
        );
    }
    let victim = (1..=3).find(|id| *id != leader).expect("a follower");
    let data = cluster.data_dir(victim);
    let snapshot = data.join("snapshots").join("snapshot.bin");
    let sled_db = data.join("raft-log").join("db");
    wait_until("the victim has a snapshot", Duration::from_secs(30), || {
        let s = snapshot.clone();
        async move {
            s.exists()
                .then_some(())
                .ok_or_else(|| "no snapshot yet".to_string())
        }
    })
    .await;
    cluster.terminate(victim);
    let good_snapshot = fs::read(&snapshot).expect("read snapshot");
    let good_db = fs::read(&sled_db).expect("read sled db");

    // Each kind of damage, restored from the copy before the next.
    // (what, file damaged, how, file the error must name)
    type Damage<'a> = (&'a str, &'a Path, fn(&Path), &'a Path);
    let damages: [Damage<'_>; 4] = [
        ("snapshot cut short", &snapshot, cut_half, &snapshot),
        ("snapshot bytes flipped", &snapshot, flip_middle, &snapshot),
        (
            "sled log cut short",
            &sled_db,
            cut_half,
            &data.join("raft-log"),
        ),
        (
            "sled log bytes flipped",
            &sled_db,
            flip_middle,
            &data.join("raft-log"),
        ),
    ];
    for (what, file, damage, named) in damages {
        fs::write(&snapshot, &good_snapshot).expect("restore snapshot");
        fs::write(&sled_db, &good_db).expect("restore sled db");
        damage(file);
        assert_refuses(&mut cluster, victim, named, what);
        // The other two keep serving writes and linearizable reads.
        assert!(
            create(&c, &format!("during-{}", what.replace(' ', "-"))).await,
            "{what}"
        );
    }
    // A snapshot deleted behind a purged log is a gap: refused too.
    fs::write(&sled_db, &good_db).expect("restore sled db");
    fs::remove_file(&snapshot).expect("remove snapshot");
    assert_refuses(
        &mut cluster,
        victim,
        &snapshot,
        "snapshot missing behind a purged log",
    );

    // The documented rebuild: wipe, remove the voter, rejoin.
    fs::remove_dir_all(&data).expect("wipe the data dir");
    let out = Cluster::kraftctl(
        &b,
        &["quorum", "remove-controller", "--id", &victim.to_string()],
    );
    assert!(
        out.status.success(),
        "remove-controller: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.spawn_rejoin(victim);
    let b2 = b.clone();
    wait_until(
        "the rebuilt node is a voter again",
        Duration::from_secs(60),
        || {
            let b2 = b2.clone();
            async move {
                let c = Client::connect(&b2).await.map_err(|e| e.to_string())?;
                let q = c.describe_quorum().await.map_err(|e| e.to_string())?;
                if q.current_voters.iter().any(|v| v.replica_id == victim) {
                    Ok(())
                } else {
                    Err(format!("{q:?}"))
                }
            }
        },
    )
    .await;
    assert!(create(&c, "after-rebuild").await);

    // Same image at the same offset as the leader.
    let leader = wait_for_leader(&b).await;
    let lead = Client::connect(&cluster.addr(leader))
        .await
        .expect("leader");
    let want = lead.dump_metadata(0).await.expect("leader dump");
    let rebuilt = Client::connect(&cluster.addr(victim))
        .await
        .expect("rebuilt");
    let got = rebuilt
        .dump_metadata(want.offset)
        .await
        .expect("rebuilt node serves DumpMetadata");
    assert_eq!(got.offset, want.offset);
    assert!(
        got.image_json == want.image_json,
        "the rebuilt node's image differs from the leader's"
    );
    assert!(got.image_json.contains("after-rebuild") && got.image_json.contains("before-0"));
}
