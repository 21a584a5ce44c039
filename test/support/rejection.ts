/** The error a promise is rejected with; the test fails when it is fulfilled or rejected with a non-Error. */
import { expect } from 'chai';

export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error;
  }
  expect.fail('expected a rejection');
}
