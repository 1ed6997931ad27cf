from tests.integration.test_stock_properties import *

@PROPERTY_SETTINGS
@given(data=st.data())
def test_probe_full_positions(runtime, data):
    events = data.draw(event_sequences(FACT_TYPES, max_size=20))
    events = list({e["event_id"]: e for e in events}.values())
    other_order = data.draw(st.permutations(events), label="other order")
    finals = []
    for order in (events, other_order):
        _, start = fresh_state(runtime)
        for batch in data.draw(batch_splits([as_sent(e, start) for e in order])):
            send(runtime, batch, start)
        finals.append(positions_table(runtime, keep_zero=True))
    assert finals[0] == finals[1]
