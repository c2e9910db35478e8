# SPDX-License-Identifier: MIT
"""A bare-metal guest drives its virtio console wrongly on purpose (a looping
descriptor chain, a buffer outside its RAM, an avail index that jumps): each
time the device must go to DEVICE_NEEDS_RESET and work again after a reset,
while another partition keeps printing and the hypervisor goes on."""

import pytest

from keelrig import keel_cfg, out, partition


@pytest.fixture(scope="module")
def hostile_queues(rig, arch):
    cfg = keel_cfg(
        partition("vq", 1, "mode=virtio then=idle", memory="16M"),
        partition("ticker", 2, "mode=ticker pace=3000", memory="16M"),
        on_idle="stay")
    with rig.boot(arch, cfg, "virtio-hostile") as q:
        yield q


def test_virtio_console_output(hostile_queues, arch):
    hostile_queues.wait_for(out("vq", "virtio: hello through the virtio console"), 90)


@pytest.mark.parametrize("kind", ["loop", "outside", "jump"])
def test_malformed_queue_resets_device(hostile_queues, arch, kind):
    said = hostile_queues.wait_for(out("vq", rf"virtio: {kind} -> status 0x[0-9a-f]+ "
                                             r"(NEEDS_RESET|not reset)"), 90)
    assert "NEEDS_RESET" in said, f"the device did not reset after '{kind}': {said}"
    hostile_queues.wait_for(out("vq", f"virtio: works again after {kind}"), 30,
                            after=said.index)


def test_others_unaffected(hostile_queues, arch):
    verdict = hostile_queues.wait_for(out("vq", r"TEST virtio (PASS|FAIL)"), 90)
    assert "PASS" in verdict, verdict
    hostile_queues.wait_for(out("ticker", r"tick \d+"), 60, after=verdict.index)
    assert not hostile_queues.find(r"keel: error: partition 'vq'"), "the guest was stopped"
    assert not hostile_queues.find(r"PANIC"), "the hypervisor panicked"
