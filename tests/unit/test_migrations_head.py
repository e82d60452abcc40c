from empire.store import migrate


def test_head_names_the_newest_migration_script() -> None:
    assert migrate.head() == migrate.scripts_head()
