"""The expectation language of journey files (`status == 200`, `json.items[0].sku == "ABC-1"`)."""
