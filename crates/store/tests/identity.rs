//! The store's contract for embedded identity, on SQLite and PostgreSQL.

use chrono::Duration;
use tricircle_store::{
    Assignment, Domain, IdentityPatch, Project, Role, StoreError, TokenRecord, User, backend_tests,
    now,
};

fn domain(id: &str) -> Domain {
    Domain {
        id: id.into(),
        name: format!("{id}-name"),
        description: String::new(),
        enabled: true,
        created_at: now(),
    }
}

fn project(id: &str, domain: &str) -> Project {
    Project {
        id: id.into(),
        domain_id: domain.into(),
        name: format!("{id}-name"),
        description: String::new(),
        enabled: true,
        created_at: now(),
    }
}

fn user(id: &str, domain: &str) -> User {
    User {
        id: id.into(),
        domain_id: domain.into(),
        name: format!("{id}-name"),
        password_hash: Some("$argon2id$fake".into()),
        enabled: true,
        default_project_id: None,
        email: None,
        description: String::new(),
        created_at: now(),
    }
}

fn token(hash: &str, user: &str, project: Option<&str>, ttl: i64) -> TokenRecord {
    let t = now();
    TokenRecord {
        token_hash: hash.into(),
        user_id: user.into(),
        project_id: project.map(str::to_string),
        methods: "password".into(),
        audit_id: format!("audit-{hash}"),
        issued_at: t,
        expires_at: t + Duration::seconds(ttl),
        revoked: false,
    }
}

backend_tests! {
    async fn objects_round_trip_and_names_are_unique(store: &Store) {
        store.domain_create(&domain("default")).await.unwrap();
        assert!(matches!(store.domain_create(&Domain { id: "other".into(), ..domain("default") }).await, Err(StoreError::Duplicate(_))));
        assert_eq!(store.domain_get_by_name("default-name").await.unwrap().unwrap().id, "default");
        store.project_create(&project("p1", "default")).await.unwrap();
        assert!(matches!(store.project_create(&Project { id: "p2".into(), ..project("p1", "default") }).await, Err(StoreError::Duplicate(_))), "name unique in its domain");
        assert!(matches!(store.project_create(&project("p3", "nodomain")).await, Err(StoreError::ForeignKey(_))));
        store.user_create(&user("u1", "default")).await.unwrap();
        let u = store.user_get_by_name("default", "u1-name").await.unwrap().unwrap();
        assert_eq!(u.password_hash.as_deref(), Some("$argon2id$fake"));
        assert!(!format!("{u:?}").contains("argon2"), "Debug hides the hash");
        let patched = store.user_update("u1", &IdentityPatch { enabled: Some(false), email: Some(Some("a@b".into())), ..Default::default() }).await.unwrap().unwrap();
        assert_eq!((patched.enabled, patched.email.as_deref(), patched.name.as_str()), (false, Some("a@b"), "u1-name"));
        let p = store.project_update("p1", &IdentityPatch { description: Some("d".into()), ..Default::default() }).await.unwrap().unwrap();
        assert_eq!(p.description, "d");
        assert!(store.project_update("nope", &IdentityPatch::default()).await.unwrap().is_none());
        assert_eq!(store.project_list(Some("default"), None).await.unwrap().len(), 1);
        assert_eq!(store.user_list(None, Some("u1-name")).await.unwrap().len(), 1);
    }

    async fn assignments_give_roles_and_cascade(store: &Store) {
        store.domain_create(&domain("default")).await.unwrap();
        store.project_create(&project("p1", "default")).await.unwrap();
        store.project_create(&project("p2", "default")).await.unwrap();
        store.user_create(&user("u1", "default")).await.unwrap();
        for r in ["admin", "member"] {
            store.role_create(&Role { id: format!("r-{r}"), name: r.into(), created_at: now() }).await.unwrap();
        }
        let a = Assignment { user_id: "u1".into(), project_id: "p1".into(), role_id: "r-member".into() };
        store.assignment_grant(&a).await.unwrap();
        store.assignment_grant(&a).await.unwrap();
        let roles: Vec<_> = store.roles_for("u1", "p1").await.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(roles, ["member"]);
        assert!(store.roles_for("u1", "p2").await.unwrap().is_empty());
        assert_eq!(store.projects_for_user("u1").await.unwrap().len(), 1);
        assert_eq!(store.assignment_list(None, Some("p1"), None).await.unwrap(), vec![a.clone()]);
        assert!(store.project_delete("p1").await.unwrap());
        assert!(store.assignment_list(Some("u1"), None, None).await.unwrap().is_empty(), "cascade");
        assert!(!store.assignment_revoke(&a).await.unwrap());
        assert!(store.role_delete("r-admin").await.unwrap());
        assert!(store.role_get_by_name("admin").await.unwrap().is_none());
    }

    async fn tokens_revoke_and_purge(store: &Store) {
        store.domain_create(&domain("default")).await.unwrap();
        store.project_create(&project("p1", "default")).await.unwrap();
        store.user_create(&user("u1", "default")).await.unwrap();
        store.token_insert(&token("h1", "u1", Some("p1"), 3600)).await.unwrap();
        store.token_insert(&token("h2", "u1", None, 3600)).await.unwrap();
        store.token_insert(&token("h3", "u1", None, -10)).await.unwrap();
        let t = store.token_get("h1").await.unwrap().unwrap();
        assert_eq!((t.project_id.as_deref(), t.revoked), (Some("p1"), false));
        assert!(store.token_revoke("h1").await.unwrap());
        assert!(!store.token_revoke("h1").await.unwrap());
        assert!(store.token_get("h1").await.unwrap().unwrap().revoked);
        assert_eq!(store.token_revoke_user("u1").await.unwrap(), 2);
        assert_eq!(store.token_purge_expired(now()).await.unwrap(), 1);
        assert!(store.token_get("h3").await.unwrap().is_none());
        assert!(store.user_delete("u1").await.unwrap());
        assert!(store.token_get("h2").await.unwrap().is_none(), "tokens go with their user");
    }
}
