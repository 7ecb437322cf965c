// SEAT as its authors' released code trains it on SST (kaustpradalab/SEAT @ 6600fd6, README's
// `--method ours` command), on any single-sequence task config of classification.libsonnet: the
// objective of seat_embedding.libsonnet (λ1 = 1, k = 7, R = 0.01, 10 steps) plus what the code does
// beyond it:
// - the clamp of every PGD iterate to [0, 1] (`attack.py` `_clip_`), in training (and, with
//   robustness-table/stability --pgd-clip, in the measure);
// - its optimiser (`Binary_Classification.py:67-84`): Adam with amsgrad, lr 0.01 and weight decay
//   1e-5 for the embedding and the encoder (`--lr 0.01`), lr 0.001 and no weight decay for the
//   attention, lr 0.001 and weight decay 1e-5 for the decoder;
// - its loss summed, not averaged, over the batch (`.mean(1).sum()`), with the class weight
//   pos_weight = #negative / #positive training instances on the positive instances;
// - its batches of 32 (`--bsize 32`) with the last, incomplete one dropped (`if n+bsize > N: continue`);
// - its 20 epochs (`--n_epoch 20`) and its stop after 10 epochs without a better selection score.
// `authors_test_selection=true` adds the code's selection rule: the epoch of best *test* macro-F1
// (`TrainerBC.py:178-186`; the code has no validation split). Off by default: the package selects
// on validation F1. A run made with it reports test numbers of the epoch chosen on the test set.
// The differences that remain are named in benchmarks/results/sst_seat_as_coded.md.
function(task, top_k_weight=1000.0, positive_class_weight=null, authors_test_selection=false)
  local coded = (import 'seat_embedding.libsonnet')(task, top_k_weight=top_k_weight, clip_to_unit_interval=true) {
    model+: {
      loss_summed_over_batch: true,
      positive_class_weight: positive_class_weight,
    },
    data_loader+: { batch_sampler+: { batch_size: 32, drop_last: true } },
    trainer+: {
      num_epochs: 20,
      patience: 10,
      optimizer: {
        type: 'torch_adam',
        lr: 0.001,
        weight_decay: 0.00001,
        amsgrad: true,
        parameter_groups: [
          [['^_text_field_embedder\\.', '^_encoder\\.'], { lr: 0.01 }],
          [['^_attention\\.'], { weight_decay: 0.0 }],
        ],
      },
    },
  };
  if authors_test_selection then (import 'authors_test_selection.libsonnet')(coded) else coded
