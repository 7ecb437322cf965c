// Plumbing for `allennlp tune search`: a trial's sampled values arrive as environment variables
// (allentune's convention) and are applied to a task config here.
//   EPSILON      perturbation size ε (ignored by vanilla, which has no perturbation)
//   SEED         random, numpy and torch seed
//   CUDA_DEVICE  -1 for the CPU
//   NUM_EPOCHS   training epochs
// Every variable must be set (jsonnet has no default for a missing external variable); the search
// spaces in training_configs/search_spaces/ set all four.
local number(name) = std.parseJson(std.extVar(name));

{
  trial(config, method)::
    local seed = number('SEED');
    config {
      random_seed: seed,
      numpy_seed: seed,
      pytorch_seed: seed,
      model+: {
        perturbation+: if method == 'vanilla' then {} else { epsilon: number('EPSILON') },
      },
      trainer+: {
        cuda_device: number('CUDA_DEVICE'),
        num_epochs: number('NUM_EPOCHS'),
      },
    },
}
