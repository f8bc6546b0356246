/**
 * Where each node of the example workflows goes in the front end, and the Notes that explain each part.
 * Node ids are the ones in examples/workflows/<name>.api.json. Times were measured with `cones-nodes run`
 * and the built-in demo model on a busy 2-core CPU (the whole two-subject example: 31 s); the SD 1.5
 * figures are the measurements in README.md and src/cones/README.md.
 */
import type { ExampleLayout, GroupLayout } from './build.js';

const BLUE = '#3f789e';
const YELLOW = '#b58b2a';
const PURPLE = '#a1309b';
const GREEN = '#8A8';

const DEMO_MODEL =
  'Load Checkpoint picks the Stable Diffusion 1.x model. "tiny-sd1-demo.safetensors" is the small demo model ' +
  'that comes with cones-nodes: an SD 1.x-architecture model trained on a toy world of coloured shapes on plain ' +
  'backgrounds at 64×64, so it draws only what the toy world holds, in seconds on a CPU. For real pictures put ' +
  'an SD 1.5 checkpoint in models/checkpoints and pick it here.';

const loadModel = (id: string): GroupLayout => ({
  title: 'Load model',
  color: BLUE,
  note: DEMO_MODEL,
  columns: [[id]],
});

const SUBJECT_PHOTOS =
  'Load Subject Photos reads the photos of one subject: a folder under input/ (1–20 photos), or one of the ' +
  'samples that come with cones-nodes (toy-world subjects, 4 photos each: green-dotted-star, orange-striped-ring, ' +
  'red-striped-square, blue-dotted-triangle, purple-plain-cross).';

const extract = (identifier: string, classNoun: string, looks: string): string =>
  'Extract Concept finds the few neurons of the model that make this subject (its "concept neurons"), so ' +
  `you can later ask for "a ${identifier} ${classNoun}" and get this ${classNoun} (${looks}) rather than any ` +
  `${classNoun}. The identifier (${identifier}) is a rare word that will name the subject; the class noun ` +
  `(${classNoun}) says what it is.`;

const CACHED =
  'The seed is "fixed": finished results are cached, so pressing Queue again reuses the concept instead of ' +
  'extracting it again (a new seed or setting extracts anew).';

const SD15_EXTRACT =
  'With a real SD 1.5 checkpoint one step at 512 px takes about a minute on a CPU and 13–18 GB of memory, ' +
  'and a good concept needs hundreds of steps: use a GPU, or lower `resolution` to try it out.';

const EXTRACT_TIME =
  'This is the slow part: about 6 seconds on a CPU with the demo model (4 steps at 64 px; the first run ' +
  `also builds the training graph). ${SD15_EXTRACT} ${CACHED}`;

const SINGLE_EXTRACT_SETTINGS =
  'The settings are the ones measured to bring the subject out on the demo model (docs/cones-toy-eval.md: the ' +
  'whole subject right in 62 % of pictures, against 3 % without the concept): 10 rounds × 100 steps ' +
  '(each round shuts its share of neurons before the next looks again), the training prompt written like the ' +
  'demo\'s captions ("a photo of a {identifier} {class}"), and 8 prior images drawn without guidance ' +
  '(prior_cfg 1). About 30–45 seconds on a CPU with the demo model (1,000 steps at 64 px; the first run also ' +
  `builds the training graph). ${SD15_EXTRACT} ${CACHED}`;

const generate = (subjects: string, names: string): string =>
  `Apply Concept Mask switches ${subjects} on in the model; the prompt names each subject by identifier ` +
  `and class noun (${names}) and a background. Then the usual text-to-image: KSampler (20 steps, dpmpp_2m, ` +
  "CFG 5, seed fixed; the negative prompt stays empty, as in the demo model's training), VAE Decode and Save " +
  'Image (to output/cones/). A few seconds on a CPU with the demo model.';

export const exampleLayouts: ExampleLayout[] = [
  {
    name: 'txt2img',
    groups: [
      [loadModel('4')],
      [
        {
          title: 'Describe the picture',
          color: YELLOW,
          note:
            'The positive prompt says what to draw. The demo model knows the words of its toy world: "a photo ' +
            'of a {small|large} {red|orange|yellow|green|blue|purple} [dotted|striped] ' +
            '{circle|square|triangle|cross|star|ring} on a {white|red|green|blue|black|yellow} background", or ' +
            'shorter ("a photo of a star"). The negative prompt stays empty: the demo model learned the empty ' +
            'prompt as "anything" (10 % of its training captions were dropped), which guidance steers away ' +
            "from. Empty Latent Image sets the size: 64×64 is the demo model's training size; use 512×512 with " +
            'a real SD 1.5 checkpoint.',
          columns: [['6', '7', '5']],
        },
      ],
      [
        {
          title: 'Generate and save',
          color: GREEN,
          note:
            'KSampler turns noise into the picture in 20 steps (dpmpp_2m, CFG 5). The seed is "fixed", so Queue gives the same ' +
            'picture again; set "control after generate" to "randomize" for a new one each time. VAE Decode ' +
            'makes pixels and Save Image writes output/txt2img_00001_.png. A few seconds on a CPU with the demo ' +
            'model; a real SD 1.5 checkpoint at 512×512 and 20 steps takes several minutes on a CPU.',
          columns: [['3'], ['8'], ['9']],
        },
      ],
    ],
  },
  {
    name: 'cones-single-subject',
    groups: [
      [loadModel('1')],
      [
        {
          title: 'Learn the subject',
          color: YELLOW,
          note:
            `${SUBJECT_PHOTOS} ${extract('zwx', 'ring', 'large, orange, striped')}\n${SINGLE_EXTRACT_SETTINGS}\n` +
            'Save Concept writes the concept to models/concepts/examples/zwx_ring_00001_.cones.safetensors, ' +
            'so Load Concept can use it later without extracting again. Concept Info shows how many neurons ' +
            'the concept holds in each layer.',
          columns: [['2'], ['3'], ['5', '6']],
        },
      ],
      [
        {
          title: 'Generate with the subject',
          color: GREEN,
          note: generate('the subject', '"zwx ring"'),
          columns: [['4', '22'], ['20', '21'], ['23'], ['24'], ['25']],
        },
      ],
    ],
  },
  {
    name: 'cones-two-subjects',
    groups: [
      [loadModel('1')],
      [
        {
          title: 'Learn the first subject (qlv square)',
          color: YELLOW,
          note: `${SUBJECT_PHOTOS} ${extract('qlv', 'square', 'large, red, striped')}\n${EXTRACT_TIME}`,
          columns: [['2'], ['3']],
        },
        {
          title: 'Learn the second subject (vbn triangle)',
          color: YELLOW,
          note:
            'The same for a second subject, with its own identifier (vbn). "keep_training_data" is on in ' +
            'both, so Merge Concepts can refine the pair. About 6 seconds on a CPU with the demo model.',
          columns: [['4'], ['5']],
        },
      ],
      [
        {
          title: 'Combine the subjects',
          color: PURPLE,
          note:
            'Merge Concepts joins both concepts into one, so one picture can hold both subjects. With ' +
            '`refine_steps` above 0 and the model linked it trains a little more on both subjects at once ' +
            '(about a second here). Concept Info shows how many neurons each layer holds, as text and ' +
            'a bar chart.',
          columns: [['6'], ['7']],
        },
      ],
      [
        {
          title: 'Generate with both subjects',
          color: GREEN,
          note: generate('both subjects', '"qlv square" and "vbn triangle"'),
          columns: [['8', '22'], ['20', '21'], ['23'], ['24'], ['25']],
        },
      ],
    ],
  },
  {
    name: 'cones-embedded-concept',
    groups: [
      [loadModel('1')],
      [
        {
          title: 'Load the subject (carried in this workflow)',
          color: YELLOW,
          note:
            'No extraction here: the concept "zwx ring" (the single-subject example\'s) travels inside this workflow file (the extra ' +
            'cones_concepts field), so Load Concept finds it even when models/concepts does not have the ' +
            'file. Pictures saved by this workflow carry it too. Concept Info shows its neurons per layer ' +
            'as text and a bar chart. Takes a second.',
          columns: [['2'], ['3']],
        },
      ],
      [
        {
          title: 'Generate with the subject',
          color: GREEN,
          note: generate('the subject', '"zwx ring"'),
          columns: [['4', '22'], ['20', '21'], ['23'], ['24'], ['25']],
        },
      ],
    ],
  },
];
