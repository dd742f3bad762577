async def test_codeword_reaches_duty_manager(harness):
    await harness.say("alice", "Is Mr Brown in today?")
    assert "staff room" in harness.last("alice").text
    assert "Aggressive" in harness.last("bob").text
