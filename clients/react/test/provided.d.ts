// What ../../test/global-setup.ts provides, as these tests use it (that file declares it for the
// client's own tests, whose vitest is another install).
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    credentials: { username: string; email: string; password: string };
    rolesCredentials: { username: string; email: string; password: string; roles: string[] };
  }
}
