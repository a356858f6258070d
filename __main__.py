"""streamgate: the handler image, a streaming Lambda, and a REST API that streams its answers."""

import pulumi

from infra.account import current_account
from infra.api import StreamingApi
from infra.config import load_settings
from infra.function import StreamingFunction
from infra.image import HandlerImage
from infra.monitoring import Monitoring
from infra.outputs import curl_command

settings = load_settings()
account = current_account()

image = HandlerImage("handler", settings)
function = StreamingFunction("handler", settings, image_uri=image.digest_uri, account=account)
api = StreamingApi("api", settings, function=function, account=account)
monitoring = Monitoring("monitoring", settings, function=function, api=api, account=account)

pulumi.export("integration", settings.integration.name)
pulumi.export("apiInvokeUrl", api.invoke_url)
pulumi.export("functionName", function.function.name)
pulumi.export("functionArn", function.function.arn)
pulumi.export("imageUri", image.digest_uri)
pulumi.export("ecrRepositoryUrl", image.repository_url)
pulumi.export("functionLogGroup", function.log_group.name)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
pulumi.export("curl", curl_command(api.invoke_url, api.api_key_id))
if api.page_url is not None:
    pulumi.export("pageUrl", api.page_url)
if function.url is not None:
    pulumi.export("functionUrl", function.url)
if api.access_log_group is not None:
    pulumi.export("accessLogGroup", api.access_log_group.name)
if monitoring.topic_arn is not None:
    pulumi.export("alarmTopicArn", monitoring.topic_arn)
if api.api_key_id is not None:
    pulumi.export("apiKeyId", api.api_key_id)
if api.domain_target is not None:
    pulumi.export("customDomainTarget", api.domain_target)
