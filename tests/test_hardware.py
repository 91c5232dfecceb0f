"""Device, precision and threads chosen from the machine: bfloat16 only where it is native."""

import json

import pytest
import torch

from dqn import cli
from dqn.config import TrainConfig, preset_config
from dqn.errors import UserError
from dqn.machine import hardware
from dqn.machine.hardware import choose_runtime, cpu_info, native_bf16, resolve_precision, resolve_threads
from dqn.train.single import Trainer

CPU = torch.device("cpu")
EPYC_AVX2_FLAGS = "fpu sse sse2 avx fma avx2 bmi2"
EPYC_BF16_FLAGS = "fpu sse sse2 avx fma avx2 avx512f avx512bw avx512_bf16 avx512_vnni"


def fake_cpu(monkeypatch, tmp_path, capability: str, flags: str, model="AMD EPYC 9R14"):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nmodel name\t: {model}\nflags\t\t: {flags}\n")
    monkeypatch.setattr(hardware, "cpu_info", lambda: cpu_info(cpuinfo))
    monkeypatch.setattr(hardware, "cpu_capability", lambda: capability)


def test_cpu_info_reads_model_and_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
                       "flags\t\t: fpu avx2 fma\n")
    assert cpu_info(cpuinfo) == ("AMD EPYC 7B13", {"fpu", "avx2", "fma"})
    model, flags = cpu_info(tmp_path / "missing")
    assert flags == set() and model


@pytest.mark.parametrize("capability, flags, native", [
    ("AVX2", EPYC_AVX2_FLAGS, False),                    # most laptops: bfloat16 emulated
    ("AVX512", EPYC_BF16_FLAGS, True),                   # AVX512_BF16: native
    ("AVX512", "avx2 avx512f avx512bw", False),          # AVX-512 without its BF16 extension
    ("AVX512", "avx2 avx512f amx_bf16 amx_tile", True),  # AMX
    ("AVX2", EPYC_BF16_FLAGS, False),                    # the instructions, but torch's AVX2 kernels
])
def test_auto_precision_follows_the_cpu(monkeypatch, tmp_path, capability, flags, native):
    fake_cpu(monkeypatch, tmp_path, capability, flags)
    assert native_bf16(CPU) is native
    assert resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    # an explicit choice is kept either way
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_forced_bf16_on_an_avx2_cpu_says_it_is_emulated(monkeypatch, tmp_path):
    fake_cpu(monkeypatch, tmp_path, "AVX2", EPYC_AVX2_FLAGS)
    runtime = choose_runtime("cpu", "bf16", 2, image_observations=True)
    assert runtime.precision == "bf16" and not runtime.native_bf16
    assert "emulated" in runtime.describe() and "AMD EPYC 9R14 (AVX2)" in runtime.describe()
    assert "emulated" not in choose_runtime("cpu", "auto", 2, image_observations=True).describe()


@pytest.mark.parametrize("bf16_supported", [True, False])
def test_cuda_is_picked_when_present_with_its_own_bf16_answer(monkeypatch, bf16_supported):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    runtime = choose_runtime("auto", "auto", "auto", image_observations=True)
    assert runtime.device == "cuda"
    assert runtime.precision == ("bf16" if bf16_supported else "fp32")
    assert choose_runtime("cpu", "fp32", 1, image_observations=True).device == "cpu"


def test_cuda_asked_for_without_one_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device"):
        choose_runtime("cuda", "auto", "auto", image_observations=True)
    assert choose_runtime("auto", "auto", "auto", image_observations=True).device == "cpu"


def test_auto_threads_use_the_cores_for_images_and_one_for_vectors(monkeypatch):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 6)
    assert resolve_threads("auto", image_observations=True) == 6
    assert resolve_threads("auto", image_observations=False) == 1
    assert resolve_threads(3, image_observations=False) == 3


@pytest.mark.parametrize("mask, physical, usable", [
    ({0, 3, 5}, 8, 3),       # a mask of 3 of the 8 cores: the mask decides
    (set(range(16)), 8, 8),  # every one of 16 hyperthreads allowed: the 8 cores decide
    ({0, 1, 2}, None, 3),    # psutil cannot tell the physical cores: the mask alone
])
def test_usable_cores_are_the_allowed_ones_up_to_the_physical_cores(monkeypatch, mask, physical, usable):
    # what the OS reports, made up: this machine's own cores could make any count pass
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: mask, raising=False)
    monkeypatch.setattr(hardware.psutil, "cpu_count", lambda logical=True: 16 if logical else physical)
    assert hardware.usable_cores() == usable


def test_config_validates_precision_and_threads():
    assert preset_config("breakout").precision == "auto"
    assert preset_config("breakout").torch_threads == "auto"
    for bad in [dict(precision="fp16"), dict(torch_threads=0), dict(torch_threads="many"),
                dict(torch_threads=2**63)]:
        with pytest.raises(UserError):
            TrainConfig(**bad).validate()
    TrainConfig(precision="bf16", torch_threads=4).validate()


def test_the_removed_bf16_flag_says_what_to_use(capsys):
    for flag in ["--bf16", "--no-bf16"]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["train", flag])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--precision" in err


def test_threads_flag_takes_auto_or_a_number():
    parser = cli.build_parser()
    assert parser.parse_args(["train", "--torch-threads", "auto"]).torch_threads == "auto"
    assert parser.parse_args(["train", "--torch-threads", "3"]).torch_threads == 3


def test_a_run_prints_and_records_its_choices(monkeypatch, tmp_path, capsys):
    fake_cpu(monkeypatch, tmp_path, "AVX2", EPYC_AVX2_FLAGS)
    config = preset_config("cartpole", total_steps=200, learning_starts=100, eval_freq_steps=0,
                           stop_score=None, log_freq_steps=100)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.train()
    assert "training on CPU AMD EPYC 9R14 (AVX2), fp32, 1 torch thread" in capsys.readouterr().err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["precision"] == "auto" and saved["torch_threads"] == "auto"
    assert saved["runtime"] == {"device": "cpu", "precision": "fp32", "native_bf16": False, "torch_threads": 1,
                                "cpu_model": "AMD EPYC 9R14", "cpu_capability": "AVX2"}
    assert torch.get_num_threads() == 1
    assert TrainConfig.from_dict(saved) == config  # config.json still reads back as the config
