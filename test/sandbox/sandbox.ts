// The sandbox is part of the product (the rooted demo runs the agent in one); tests import it from here.
export * from '../../src/demo/sandbox.js';
