// `ip -j addr` parsing lives with the sandbox in the product; tests import it from here.
export * from '../../src/demo/ip-links.js';
