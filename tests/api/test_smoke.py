def test_health_is_public_and_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_a_product_written_can_be_read_back(client, admin):
    response = client.put("/v1/products", json=[{"sku": "1", "name": "Milk", "price": 1.2, "currency": "USD"}],
                          headers=admin)
    assert response.status_code == 200, response.json
    assert client.get("/v1/products/1", headers=admin).json["name"] == "Milk"
