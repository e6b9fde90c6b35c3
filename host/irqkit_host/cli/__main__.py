"""python -m irqkit_host.cli  ==  irqkit"""
import sys

from irqkit_host.cli import main

sys.exit(main())
