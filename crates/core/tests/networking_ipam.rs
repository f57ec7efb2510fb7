//! Central IPAM under concurrency: for random subnet sizes, numbers of
//! concurrent port creates and addresses asked for by name, no address and
//! no MAC is ever handed out twice, every address lies in the subnet's pool,
//! and a create fails only when the pool is really exhausted. On SQLite
//! always and on PostgreSQL when `TRICIRCLE_TEST_PG` is set (there several
//! connections really race).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use proptest::prelude::*;
use serde_json::{Value, json};
use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_store::testing::{Backend, TestDb};

fn member(project: &str) -> RequestContext {
    RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: "u".into(),
            user_name: "u".into(),
            project_id: Some(project.into()),
            roles: vec!["member".into()],
        },
    }
}

struct Outcome {
    created: Vec<Value>,
    /// Creates refused because the pool was used up.
    exhausted: usize,
    /// Addresses asked for by name that another create took first.
    taken_first: Vec<String>,
    pool_size: usize,
}

async fn race(backend: Backend, prefix: u8, tasks: usize, named: usize) -> Option<Outcome> {
    let db = TestDb::new(backend).await?;
    let app = App::new(db.store.clone(), SecretBox::from_key([5; 32]), Settings::new(1000));
    let ctx = member("p1");
    let net = app.network_create(&ctx, &json!({"network": {"name": "n"}})).await.unwrap();
    let net_id = net["id"].as_str().unwrap().to_string();
    let cidr = format!("10.7.0.0/{prefix}");
    let body = json!({"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4}});
    let subnet = app.subnet_create(&ctx, &body).await.unwrap();
    let pool_size = (1usize << (32 - prefix)) - 3;
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (app, ctx, net_id) = (app.clone(), ctx.clone(), net_id.clone());
        // The first `named` tasks ask for an address by name (.2, .3, ...),
        // racing the others that take the lowest free ones.
        let fixed = (i < named).then(|| {
            json!([{"subnet_id": subnet["id"], "ip_address": Ipv4Addr::new(10, 7, 0, 2 + i as u8).to_string()}])
        });
        let asked = fixed.as_ref().map(|f| f[0]["ip_address"].as_str().unwrap().to_string());
        handles.push((
            asked,
            tokio::spawn(async move {
                let mut port = json!({"network_id": net_id});
                if let Some(f) = fixed {
                    port["fixed_ips"] = f;
                }
                app.port_create(&ctx, &json!({"port": port})).await
            }),
        ));
    }
    let mut created = Vec::new();
    let mut exhausted = 0;
    let mut taken_first = Vec::new();
    for (asked, h) in handles {
        match (h.await.unwrap(), asked) {
            (Ok(p), _) => created.push(p),
            (Err(e), None) if e.type_name() == Some("IpAddressGenerationFailure") => exhausted += 1,
            (Err(e), Some(ip)) if e.type_name() == Some("IpAddressAlreadyAllocated") => {
                taken_first.push(ip)
            }
            (Err(e), _) => panic!("unexpected failure: {e} ({:?})", e.type_name()),
        }
    }
    db.cleanup().await;
    Some(Outcome { created, exhausted, taken_first, pool_size })
}

fn check(o: &Outcome, tasks: usize, prefix: u8) {
    let ips: Vec<Ipv4Addr> = o
        .created
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap().parse().unwrap())
        .collect();
    let distinct: HashSet<&Ipv4Addr> = ips.iter().collect();
    assert_eq!(distinct.len(), ips.len(), "an address was handed out twice: {ips:?}");
    let macs: HashSet<&str> =
        o.created.iter().map(|p| p["mac_address"].as_str().unwrap()).collect();
    assert_eq!(macs.len(), o.created.len(), "a MAC was handed out twice");
    let last = 2 + o.pool_size as u32 - 1;
    for ip in &ips {
        let host = u32::from(*ip) - u32::from(Ipv4Addr::new(10, 7, 0, 0));
        assert!((2..=last).contains(&host), "{ip} is outside the pool of /{prefix}");
    }
    assert_eq!(o.created.len() + o.exhausted + o.taken_first.len(), tasks);
    // An address asked for by name is refused only when a port holds it.
    for ip in &o.taken_first {
        assert!(ips.iter().any(|i| i.to_string() == *ip), "{ip} refused but held by no port");
    }
    // Refused for exhaustion only when the pool is really used up.
    if o.exhausted > 0 {
        assert_eq!(o.created.len(), o.pool_size, "exhausted with free addresses left");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_port_creates_never_share_an_address(
        prefix in 27u8..=29,
        extra in 0usize..6,
        named in 0usize..4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let pool = (1usize << (32 - prefix)) - 3;
            // Up to a few more creates than there are addresses.
            let tasks = pool.saturating_sub(3) + extra;
            let named = named.min(tasks);
            if let Some(o) = rt.block_on(race(backend, prefix, tasks, named)) {
                check(&o, tasks, prefix);
            }
        }
    }
}
