// Importing an op family registers its kernels into the default registry.
import './conv.js';
import './elementwise.js';
import './linear.js';
import './normalization.js';
import './pool.js';
import './shape.js';
