//! The top Neutron's availability zones (one per pod zone, for networks
//! and routers) and quotas (Neutron's defaults; usage counted at the top;
//! a member reads its own project's only).

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN, MEMBER, OTHER, neutron_call as call};
use crate::gateway_tests;

gateway_tests! {
    async fn zones_follow_the_pods(gw: &Gateway) {
        let r = call(gw, MEMBER, Method::GET, "/availability_zones", None).await;
        assert_eq!(r.ok(200)["availability_zones"], json!([]), "no pod, no zone");
        for (region, az) in [("Pod1", "az1"), ("Pod2", "az2")] {
            let body = json!({"pod": {"region_name": region, "az_name": az}});
            gw.call(Method::POST, "/admin/v1.0/pods", Some(body)).await.ok(201);
        }
        let r = call(gw, MEMBER, Method::GET, "/availability_zones", None).await;
        let zones = r.ok(200)["availability_zones"].as_array().unwrap().clone();
        assert_eq!(zones.len(), 4, "{zones:?}");
        for z in &zones {
            assert!(["az1", "az2"].contains(&z["name"].as_str().unwrap()), "{z}");
            assert!(["network", "router"].contains(&z["resource"].as_str().unwrap()), "{z}");
            assert!(z["state"].is_string(), "{z}");
        }
        let r = call(gw, MEMBER, Method::GET, "/availability_zones?resource=router&name=az2", None).await;
        assert_eq!(r.ok(200)["availability_zones"], json!([{"name": "az2", "resource": "router", "state": zones[0]["state"]}]));
        let r = call(gw, MEMBER, Method::GET, "/availability_zones?bogus=1", None).await;
        assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    }

    async fn quotas_are_read_with_usage(gw: &Gateway) {
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1", None).await;
        let q = &r.ok(200)["quota"];
        assert_eq!((q["network"].as_i64(), q["port"].as_i64(), q["subnetpool"].as_i64()), (Some(100), Some(500), Some(-1)));
        for name in ["a", "b"] {
            call(gw, MEMBER, Method::POST, "/networks", Some(json!({"network": {"name": name}}))).await.ok(201);
        }
        call(gw, OTHER, Method::POST, "/networks", Some(json!({"network": {"name": "theirs"}}))).await.ok(201);
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1/details", None).await;
        let q = &r.ok(200)["quota"];
        assert_eq!(q["network"], json!({"limit": 100, "used": 2, "reserved": 0}));
        assert_eq!(q["router"]["used"], 0);
        call(gw, MEMBER, Method::POST, "/routers", Some(json!({"router": {"name": "r"}}))).await.ok(201);
        let r = call(gw, MEMBER, Method::GET, "/quotas/p1/details", None).await;
        assert_eq!(r.ok(200)["quota"]["router"]["used"], 1);
        // Another project's quotas: the admin only.
        let r = call(gw, MEMBER, Method::GET, "/quotas/p2", None).await;
        assert_eq!(r.status.as_u16(), 403, "{}", r.body);
        assert_eq!(r.body["NeutronError"]["type"], "PolicyNotAuthorized");
        let r = call(gw, ADMIN, Method::GET, "/quotas/p2/details", None).await;
        assert_eq!(r.ok(200)["quota"]["network"]["used"], 1);
        let r = gw.raw(Method::GET, "/networking/v2.0/quotas/p1", None, None).await;
        assert_eq!(r.status.as_u16(), 401);
    }
}
