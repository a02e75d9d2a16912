// Importing an op family registers its kernels into the default registry.
import './conv.js';
import './elementwise.js';
import './generator.js';
import './linear.js';
import './normalization.js';
import './pad.js';
import './pool.js';
import './reduce.js';
import './shape.js';
import './slice.js';
