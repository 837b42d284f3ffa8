/**
 * Maintenance as Consul shows it: a critical check named `_service_maintenance:<id>` on the
 * instance (agent/agent.go, serviceMaintCheckID), with the operator's reason as its notes.
 */
export const MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';
export const MAINTENANCE_CHECK_NAME = 'Service Maintenance Mode';
/** Consul's text when maintenance is enabled without a reason (agent.go defaultServiceMaintReason). */
export const DEFAULT_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

export function maintenanceCheckId(instanceId: string): string {
  return MAINTENANCE_CHECK_PREFIX + instanceId;
}
