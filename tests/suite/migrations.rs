//! The SQLite and PostgreSQL migration folders must stay paired: same version ids and names.

use std::collections::BTreeSet;

fn names(dialect: &str) -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
}

#[test]
fn sqlite_and_postgres_migrations_are_paired() {
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty(), "no migrations found");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "unpaired migrations: only in sqlite {only_sqlite:?}, only in postgres {only_postgres:?}"
    );
    for name in &sqlite {
        let (version, rest) = name
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected <version>_<verb_noun>.sql"));
        assert!(
            version.chars().all(|c| c.is_ascii_digit()) && rest.ends_with(".sql"),
            "{name}"
        );
    }
}
