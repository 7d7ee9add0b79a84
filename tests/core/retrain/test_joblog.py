"""A training job's log as people read it (issue 37 item 13): stages and numbers, no progress bars, no dicts."""

from __future__ import annotations

from core.retrain.joblog import readable, readable_tail

# Lines as a real job wrote them (tqdm redraws, tqdm.write, a dict of metrics, rich bars, a torch warning).
JOB_LOG = "\n".join([
    "review log: 100 labelled sheets; train 81 usable (0 without masks left out), eval 19",
    "[22:45:41] device CPU (2 cores), 2 CPU threads, fp32",
    "",
    "joint training:   0%|          | 0/400 [00:00<?, ?step/s]",
    "joint training:   0%|          | 2/400 [00:05<17:50,  2.69s/step, loss=2.2508, lr=1.00e-04, seg=0.5797]"
    "\rjoint training:   1%|          | 4/400 [00:14<24:45,  3.75s/step, loss=2.1913, lr=2.00e-04, seg=0.5728]",
    "joint training:  10%|█         | 40/400 [02:00<18:00,  3.00s/step, loss=1.2000, lr=2.00e-03, seg=0.4000]",
    "validation: 100%|██████████| 6/6 [00:02<00:00,  2.50img/s]",
    "step 40/400: accuracy=0.8333, macro_f1=0.0000, score=1.0000 *",
    "[22:45:03] validation: {'images': 6, 'rejected': 0, 'accuracy': 0.8333, 'per_class': {'pits': 0.5}}",
    "W1207 22:45:07.329000 2330 torch/utils/cpp_extension.py:183] No CUDA runtime is found",
    "Statistics collection ━━━━━━━━━━━━━━━━━━━━━━━━━━━ 100% 33/33 • 0:00:00 • 0:00:00",
    "job 1: succeeded; candidate replay-r1: promote",
])


def test_a_job_log_reads_as_stages_and_numbers():
    lines = readable(JOB_LOG)
    assert lines == [
        "review log: 100 labelled sheets; train 81 usable (0 without masks left out), eval 19",
        "[22:45:41] device CPU (2 cores), 2 CPU threads, fp32",
        "joint training: 40/400 steps in 02:00 (loss 1.2000, lr 2.00e-03, seg 0.4000)",  # one line per run of a bar
        "validation: 6/6 imgs in 00:02",
        "step 40/400: accuracy=0.8333, macro_f1=0.0000, score=1.0000 *",
        "[22:45:03] validation: images 6, rejected 0, accuracy 0.8333, per_class pits 0.5",
        "Statistics collection: 33/33",
        "job 1: succeeded; candidate replay-r1: promote",
    ]
    text = "\n".join(lines)
    assert "%|" not in text and "━" not in text and "{" not in text and "'" not in text


def test_the_tail_reads_the_file_and_is_empty_before_it_exists(tmp_path):
    path = tmp_path / "job.log"
    assert readable_tail(path) == []
    path.write_text(JOB_LOG)
    assert readable_tail(path, 2) == ["Statistics collection: 33/33", "job 1: succeeded; candidate replay-r1: promote"]
