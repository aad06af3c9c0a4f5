"""The benchmark's baseline endpoint exists only when the benchmark turns it on."""

from adapter.app import create_app


def test_the_baseline_endpoint_is_off_by_default(client):
    assert client.post("/bench/baseline", json={"a": 1}).status_code == 404


def test_the_baseline_endpoint_stores_one_row_when_turned_on(config, clean_database):
    app = create_app(config.with_overrides(bench_endpoints=True))
    try:
        response = app.test_client().post("/bench/baseline", json={"resourceType": "Communication"})
        assert response.status_code == 201
        assert response.headers["Server-Timing"].startswith("app;dur=")
    finally:
        app.extensions["mc"].engine.dispose()
